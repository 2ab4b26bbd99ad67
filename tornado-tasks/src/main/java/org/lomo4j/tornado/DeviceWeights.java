package org.lomo4j.tornado;

import org.lomo4j.model.ParamDtype;
import org.lomo4j.model.ParameterLayout;
import org.lomo4j.model.Parameters;
import org.lomo4j.model.Tensor;

/**
 * The weights as the device holds them. With fp32 weights the kernels read and update the model's flat array
 * itself. With bf16 weights the device holds the model's 16-bit array ({@link #halves}) and an fp32 working copy
 * ({@link #params}) of one layer and of the tensors outside the blocks: each block graph first widens its layer
 * into the copy ({@link Tasks#widen}), the kernels run on it unchanged, and an updating pass narrows it back
 * ({@link Tasks#narrow}) with the JVM's rounding (each weight's random bits from the step's key and its index).
 * So a weight is widened, updated in fp32 and narrowed once per step, as {@code Update.sgdRowHalf} does, while the
 * device holds 2 bytes per weight plus one layer's fp32 copy.
 *
 * <p>The working copy is laid out as [the layer's tensors | the embedding | the final norm and an untied head]:
 * a block's tensors sit at the same distance from its start in every layer, which is what lets one compiled block
 * graph serve them all.
 */
final class DeviceWeights {
    /** What the kernels read and update: the fp32 weights, or the fp32 working copy. */
    final float[] params;
    /** The 16-bit weights, the model's own array; null with fp32 weights. */
    final short[] halves;
    /** How an updating pass narrows: {@code Half.NEAREST} or {@code Half.STOCHASTIC}. */
    final int rounding;
    private final ParameterLayout layout;
    private final int layerSize, embeddingSize, tailStart, tailSize;

    DeviceWeights(Parameters p, int rounding) {
        this.rounding = rounding;
        layout = p.layout();
        layerSize = layerSize(layout);
        embeddingSize = layout.embedding().size();
        tailStart = layout.finalNorm().offset();
        tailSize = (int) (layout.totalSize() - tailStart);
        if (p.dtype() == ParamDtype.F32) {
            params = p.flat();
            halves = null;
        } else if (p.dtype() == ParamDtype.BF16) {
            halves = p.flatHalves();
            params = new float[(int) workingCopySize(layout)];
        } else {
            throw new IllegalArgumentException("--backend tornado holds 16-bit weights as bf16; run --param-dtype " + p.dtype().id()
                    + " on --backend jvm, or use --param-dtype bf16");
        }
        for (int l = 1; l < layout.blocks().size(); l++) {
            if (layerStart(l) != layerStart(l - 1) + layerSize) throw new IllegalStateException("layer " + l + " does not follow layer " + (l - 1));
        }
    }

    boolean half() {
        return halves != null;
    }

    /** Floats in the working copy of bf16 weights: one layer and the tensors outside the blocks. */
    static long workingCopySize(ParameterLayout layout) {
        return layerSize(layout) + layout.embedding().size() + (layout.totalSize() - layout.finalNorm().offset());
    }

    private static int layerSize(ParameterLayout layout) {
        ParameterLayout.Block first = layout.blocks().get(0);
        return first.wDown().offset() + first.wDown().size() - first.inputNorm().offset();
    }

    /** Where layer l's tensors start among all the weights (the 16-bit array's offsets are the layout's). */
    int layerStart(int l) {
        return layout.blocks().get(l).inputNorm().offset();
    }

    /** Where tensor t lies in {@link #params} while layer l is selected. */
    int offset(Tensor t, int l) {
        if (!half()) return t.offset();
        if (t == layout.embedding()) return layerSize;
        if (t.offset() >= tailStart) return layerSize + embeddingSize + (t.offset() - tailStart);
        return t.offset() - layerStart(l);
    }

    int layerSize() {
        return layerSize;
    }

    int embeddingSize() {
        return embeddingSize;
    }

    int tailStart() {
        return tailStart;
    }

    int tailSize() {
        return tailSize;
    }
}
