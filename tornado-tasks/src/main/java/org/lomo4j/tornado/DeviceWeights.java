package org.lomo4j.tornado;

import org.lomo4j.kernels.Half;
import org.lomo4j.model.ParamDtype;
import org.lomo4j.model.ParameterLayout;
import org.lomo4j.model.Parameters;
import org.lomo4j.model.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The weights as the device holds them. With fp32 weights in one segment (below 2^31 weights) the kernels read and
 * update the model's flat array itself. Otherwise the device holds the model's segments ({@link #halves} for bf16,
 * {@link #floats} for fp32; as many as the model has: a 7B model is four) and an fp32 working copy ({@link #params})
 * of one layer and of the tensors outside the blocks. Each block graph first fills the copy with its layer, the
 * kernels run on it unchanged, and an updating pass writes it back: fp32 copied ({@link Tasks#copyIn},
 * {@link Tasks#copyOut}), bf16 widened ({@link Tasks#widen}) and narrowed with the JVM's rounding ({@link Tasks#narrow};
 * each weight's random bits from the step's key and its index among all weights). So a bf16 weight is widened,
 * updated in fp32 and narrowed once per step, as {@code Update.sgdRowHalf} does, while the device holds 2 bytes per
 * weight plus one layer's fp32 copy.
 *
 * <p>The working copy is laid out as [the layer's tensors | the embedding | the final norm | an untied head]. A
 * block's tensors lie whole in one segment ({@link ParameterLayout} keeps them together), at the same distance
 * from its start in every layer, which is what lets one compiled block graph serve them all.
 */
final class DeviceWeights {
    /** What the kernels read and update: the fp32 weights, or the fp32 working copy. */
    final float[] params;
    /** The 16-bit weights, the model's own arrays, one per segment; null with fp32 weights. */
    final short[][] halves;
    /** fp32 weights in more than one segment, the model's own arrays; null otherwise. */
    final float[][] floats;
    /** Every bf16 value widened, what {@link Tasks#widen} looks weights up in; null with fp32 weights. */
    final float[] bf16Values;
    /** How an updating pass narrows: {@code Half.NEAREST} or {@code Half.STOCHASTIC}. */
    final int rounding;
    private final ParameterLayout layout;
    private final int layerSize;
    /** The tensors outside the blocks, each widened whole: the embedding, the final norm, an untied head. */
    private final List<Tensor> outside = new ArrayList<>();
    private final int[] outsideAt;

    DeviceWeights(Parameters p, int rounding) {
        this.rounding = rounding;
        layout = p.layout();
        layerSize = layerSize(layout);
        outside.add(layout.embedding());
        outside.add(layout.finalNorm());
        if (!layout.tied()) outside.add(layout.head());
        outsideAt = new int[outside.size()];
        for (int i = 0, at = layerSize; i < outsideAt.length; at += outside.get(i).size(), i++) outsideAt[i] = at;
        if (p.dtype() == ParamDtype.F16) {
            throw new IllegalArgumentException("--backend tornado holds 16-bit weights as bf16; run --param-dtype f16 on --backend jvm, "
                    + "or use --param-dtype bf16");
        }
        boolean half = p.dtype() == ParamDtype.BF16;
        int segments = layout.segments();
        halves = half ? new short[segments][] : null;
        floats = !half && segments > 1 ? new float[segments][] : null;
        for (int s = 0; s < segments; s++) {
            if (halves != null) halves[s] = p.halves(s);
            if (floats != null) floats[s] = p.floats(s);
        }
        params = copied() ? new float[(int) workingCopy(layout)] : p.flat();
        bf16Values = half ? Half.bf16Values() : null;
        for (ParameterLayout.Block b : layout.blocks()) {
            if (b.inputNorm().segment() != b.wDown().segment() || b.wDown().offset() + b.wDown().size() - b.inputNorm().offset() != layerSize) {
                throw new IllegalStateException(b.inputNorm().name() + ": the layer does not lie whole in one segment");
            }
        }
    }

    boolean half() {
        return halves != null;
    }

    /** Whether the kernels run on a working copy (weights in bf16, or fp32 in segments) rather than the weights. */
    boolean copied() {
        return halves != null || floats != null;
    }

    /** The arrays the model's weights live in on the host, what a sync brings back. */
    Object[] segments() {
        return half() ? halves : floats != null ? floats : new Object[] {params};
    }

    /** The device bytes of {@code dtype} weights for {@code layout}, planned without allocating (see {@link #deviceBytes()}). */
    static long plannedBytes(ParameterLayout layout, ParamDtype dtype) {
        if (dtype == ParamDtype.F32) return 4L * layout.totalSize() + (layout.segments() > 1 ? 4L * workingCopy(layout) : 0);
        return 2L * layout.totalSize() + 4L * (workingCopy(layout) + (1 << 16));
    }

    /** What these weights take on the device: the fp32 array, or the segments, the working copy and bf16's widening table. */
    long deviceBytes() {
        long bytes = 4L * params.length;
        if (floats != null) for (float[] f : floats) bytes += 4L * f.length;
        if (half()) {
            bytes += 4L * bf16Values.length;
            for (short[] h : halves) bytes += 2L * h.length;
        }
        return bytes;
    }

    /** What the host holds for them beyond the model's own arrays: TornadoVM's host side of a working copy and of the table. */
    long hostMirrorBytes() {
        return (copied() ? 4L * params.length : 0) + (half() ? 4L * bf16Values.length : 0);
    }

    /** Floats in the working copy of bf16 weights: one layer and the tensors outside the blocks. */
    private static long workingCopy(ParameterLayout layout) {
        return layerSize(layout) + layout.embedding().size() + layout.finalNorm().size() + (layout.tied() ? 0 : layout.head().size());
    }

    private static int layerSize(ParameterLayout layout) {
        ParameterLayout.Block first = layout.blocks().get(0);
        return first.wDown().offset() + first.wDown().size() - first.inputNorm().offset();
    }

    /** Where layer l's tensors start in their segment. */
    int layerStart(int l) {
        return layout.blocks().get(l).inputNorm().offset();
    }

    int layerSegment(int l) {
        return layout.blocks().get(l).inputNorm().segment();
    }

    /** Where tensor t lies in {@link #params} while layer l is selected. */
    int offset(Tensor t, int l) {
        if (!copied()) return t.offset();
        int i = outside.indexOf(t);
        return i >= 0 ? outsideAt[i] : t.offset() - layerStart(l);
    }

    int layerSize() {
        return layerSize;
    }

    /** The tensors outside the blocks that the working copy holds, in its order. */
    List<Tensor> outside() {
        return outside;
    }

    /** Where outside tensor i lies in the working copy. */
    int outsideAt(int i) {
        return outsideAt[i];
    }

    /** The index among all weights of segment s's first value: what its weights' random bits are drawn by. */
    long segmentStart(int s) {
        long start = 0;
        for (int i = 0; i < s; i++) start += layout.segmentSize(i);
        return start;
    }

    /** The segments that hold blocks, in order. */
    List<Integer> layerSegments() {
        List<Integer> out = new ArrayList<>();
        for (int l = 0; l < layout.blocks().size(); l++) if (!out.contains(layerSegment(l))) out.add(layerSegment(l));
        return out;
    }
}
