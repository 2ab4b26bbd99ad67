package org.lomo4j.model;

/**
 * Llama 3's RoPE frequency scaling ({@code rope_type: "llama3"}): low frequencies (wavelengths beyond the
 * original context / lowFreqFactor) are divided by {@code factor}, high ones (below original / highFreqFactor)
 * kept, and the band between is interpolated smoothly, so the model reads contexts {@code factor} times
 * longer than it was pre-trained on. As transformers' {@code _compute_llama3_parameters}.
 */
public record RopeScaling(double factor, double lowFreqFactor, double highFreqFactor, int originalMaxPositionEmbeddings) {

    /** The inverse frequency of rotary pair i of {@code hd}, {@code θ^(−2i/hd)}, scaled (or not, with no scaling). */
    public static double inverseFrequency(RopeScaling scaling, double theta, int hd, int i) {
        double inv = 1.0 / Math.pow(theta, (2.0 * i) / hd);
        return scaling == null ? inv : scaling.scale(inv);
    }

    double scale(double inv) {
        double lowWavelen = originalMaxPositionEmbeddings / lowFreqFactor;
        double highWavelen = originalMaxPositionEmbeddings / highFreqFactor;
        double wavelen = 2 * Math.PI / inv;
        if (wavelen < highWavelen) return inv;
        if (wavelen > lowWavelen) return inv / factor;
        double smooth = (originalMaxPositionEmbeddings / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
        return (1 - smooth) * inv / factor + smooth * inv;
    }
}
