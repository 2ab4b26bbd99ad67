package org.lomo4j.model;

import org.lomo4j.kernels.Half;

import java.util.Locale;

/**
 * How the weights are stored ({@code --param-dtype}). Computation is fp32 whatever the storage: a 16-bit
 * weight is widened where it is read (while the matmul packs its panels, while a row is loaded).
 */
public enum ParamDtype {
    F32(4, -1), BF16(2, Half.BF16), F16(2, Half.F16);

    /** Bytes per stored value. */
    public final int bytes;
    /** The {@link Half} format code of a 16-bit dtype; −1 for F32. */
    public final int halfFormat;

    ParamDtype(int bytes, int halfFormat) {
        this.bytes = bytes;
        this.halfFormat = halfFormat;
    }

    public boolean half() {
        return this != F32;
    }

    /** As the flag spells it: f32, bf16 or f16. */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static ParamDtype parse(String s, String flag) {
        for (ParamDtype d : values()) if (d.id().equals(s.toLowerCase(Locale.ROOT))) return d;
        throw new IllegalArgumentException(flag + " must be f32, bf16 or f16, got '" + s + "'");
    }
}
