package org.lomo4j.bench.compare;

import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.lomo4j.kernels.Rope;
import org.lomo4j.model.Batch;
import org.lomo4j.model.LlamaConfig;
import org.lomo4j.model.ParameterLayout;

import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The same LLaMA in LibTorch (JavaCPP's org.bytedeco:pytorch presets), built from lomo4j's weights so both
 * sides start identical, trained by LibTorch's autograd. Conventions match Hugging Face's and lomo4j's:
 * Linear weights are [out, in], RoPE rotates halves (pairs i, i + HD/2), RMSNorm's eps is passed explicitly,
 * attention is causal with grouped key/value heads.
 */
final class TorchLlama {
    private final LlamaConfig cfg;
    private final ParameterLayout layout;
    private final torch.ScalarType dtype;
    final Map<String, Tensor> params = new LinkedHashMap<>();  // HF name → leaf tensor (requires grad)
    private final Map<String, Tensor[]> adam = new LinkedHashMap<>();  // name → {m, v}
    private final Tensor cos, sin;                               // (1, 1, T, HD)
    private final int seq;

    TorchLlama(LlamaConfig cfg, float[] weights, int seq, torch.ScalarType dtype) {
        this.cfg = cfg;
        this.layout = new ParameterLayout(cfg);
        this.dtype = dtype;
        this.seq = seq;
        for (org.lomo4j.model.Tensor t : layout.tensors()) {
            float[] w = java.util.Arrays.copyOfRange(weights, t.offset(), t.offset() + t.size());
            long[] shape = t.vector() ? new long[] {t.cols()} : new long[] {t.rows(), t.cols()};
            Tensor p = Tensor.create(w, shape).to(dtype);
            p.set_requires_grad(true);
            params.put(t.name(), p);
        }
        int hd = cfg.headDim(), half = hd / 2;
        float[] c = new float[seq * half], s = new float[seq * half];
        Rope.tables(c, s, seq, hd, cfg.ropeTheta());
        float[] cFull = new float[seq * hd], sFull = new float[seq * hd];
        for (int t = 0; t < seq; t++) {
            for (int i = 0; i < hd; i++) {
                cFull[t * hd + i] = c[t * half + i % half];
                sFull[t * hd + i] = s[t * half + i % half];
            }
        }
        cos = Tensor.create(cFull, 1, 1, seq, hd).to(dtype);
        sin = Tensor.create(sFull, 1, 1, seq, hd).to(dtype);
    }

    private Tensor p(String name) {
        return params.get(name);
    }

    /** Mean cross-entropy over the counted targets (ignore_index −1), as lomo4j's forward computes it. */
    Tensor loss(Batch batch) {
        int b = batch.batchSize(), t = batch.seqLen(), c = cfg.hiddenSize(), nh = cfg.numAttentionHeads(),
                nkv = cfg.numKeyValueHeads(), hd = cfg.headDim();
        long[] tokens = new long[batch.size()], targets = new long[batch.size()];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = batch.tokens()[i];
            targets[i] = batch.targets()[i];
        }
        Tensor x = torch.embedding(p("model.embed_tokens.weight"), Tensor.create(tokens, b, t));
        Tensor cosT = cos.narrow(2, 0, t), sinT = sin.narrow(2, 0, t);
        for (int l = 0; l < cfg.numHiddenLayers(); l++) {
            String pre = "model.layers." + l + ".";
            Tensor h = rmsnorm(x, p(pre + "input_layernorm.weight"));
            Tensor q = rope(linear(h, pre + "self_attn.q_proj").view(b, t, nh, hd).transpose(1, 2), cosT, sinT);
            Tensor k = rope(linear(h, pre + "self_attn.k_proj").view(b, t, nkv, hd).transpose(1, 2), cosT, sinT);
            Tensor v = linear(h, pre + "self_attn.v_proj").view(b, t, nkv, hd).transpose(1, 2);
            Tensor att = torch.scaled_dot_product_attention(q, k, v, new TensorOptional(), 0.0, true, new DoubleOptional(), nkv != nh);
            att = att.transpose(1, 2).reshape(b, t, nh * hd);
            x = x.add(linear(att, pre + "self_attn.o_proj"));
            h = rmsnorm(x, p(pre + "post_attention_layernorm.weight"));
            Tensor mlp = torch.silu(linear(h, pre + "mlp.gate_proj")).mul(linear(h, pre + "mlp.up_proj"));
            x = x.add(linear(mlp, pre + "mlp.down_proj"));
        }
        x = rmsnorm(x, p("model.norm.weight"));
        Tensor logits = torch.linear(x, layout.tied() ? p("model.embed_tokens.weight") : p("lm_head.weight"));
        Tensor logp = torch.log_softmax(logits.view(b * t, cfg.vocabSize()), 1);
        return torch.nll_loss(logp, Tensor.create(targets, b * t), new TensorOptional(), 1 /* mean */, -1);
    }

    private Tensor linear(Tensor x, String prefix) {
        Tensor bias = params.get(prefix + ".bias");
        return bias == null ? torch.linear(x, p(prefix + ".weight")) : torch.linear(x, p(prefix + ".weight"), new TensorOptional(bias));
    }

    private Tensor rmsnorm(Tensor x, Tensor w) {
        return torch.rms_norm(x, new long[] {cfg.hiddenSize()}, new TensorOptional(w), new DoubleOptional(cfg.rmsNormEps()));
    }

    /** HF's rotate-half RoPE: x·cos + (−x₂, x₁)·sin. */
    private static Tensor rope(Tensor x, Tensor cos, Tensor sin) {
        long half = x.size(3) / 2;
        Tensor rotated = torch.cat(new TensorVector(x.narrow(3, half, half).neg(), x.narrow(3, 0, half)), 3);
        return x.mul(cos).add(rotated.mul(sin));
    }

    /** SGD, {@code p −= lr · g}, after the backward that filled the gradients; gradients are then zeroed. */
    void sgd(double lr) {
        try (var noGrad = new org.bytedeco.pytorch.NoGradGuard()) {
            Scalar alpha = new Scalar(lr);
            for (Tensor p : params.values()) {
                p.sub_(p.grad(), alpha);
                p.grad().zero_();
            }
        }
    }

    /** Allocates AdamW's moments; call outside any per-step PointerScope, which would free them. */
    void initAdamW() {
        for (Map.Entry<String, Tensor> e : params.entrySet()) {
            adam.put(e.getKey(), new Tensor[] {torch.zeros_like(e.getValue()), torch.zeros_like(e.getValue())});
        }
    }

    /** AdamW with decoupled weight decay, bias-corrected, as lomo4j's reference AdamW. */
    void adamw(double lr, double beta1, double beta2, double eps, double weightDecay, int step) {
        try (var noGrad = new org.bytedeco.pytorch.NoGradGuard()) {
            double bc1 = 1 - Math.pow(beta1, step), bc2 = 1 - Math.pow(beta2, step);
            for (Map.Entry<String, Tensor> e : params.entrySet()) {
                Tensor p = e.getValue(), g = p.grad();
                Tensor[] mv = adam.get(e.getKey());
                mv[0].mul_(new Scalar(beta1)).add_(g, new Scalar(1 - beta1));
                mv[1].mul_(new Scalar(beta2)).add_(g.mul(g), new Scalar(1 - beta2));
                Tensor step1 = mv[0].div(new Scalar(bc1)).div(mv[1].div(new Scalar(bc2)).sqrt().add(new Scalar(eps)));
                p.sub_(step1.add(p.mul(new Scalar(weightDecay))), new Scalar(lr));
                g.zero_();
            }
        }
    }

    /** Bytes of the parameters, gradients and AdamW moments LibTorch holds (activations are not counted). */
    long accountedBytes() {
        long n = 0;
        for (Tensor p : params.values()) n += p.numel();
        int width = dtype == torch.ScalarType.Double ? 8 : 4;
        return (long) width * n * (2 + (adam.isEmpty() ? 0 : 2));
    }

    /** The weights in lomo4j's flat layout, as fp32. */
    float[] weights() {
        float[] out = new float[(int) layout.totalSize()];
        for (org.lomo4j.model.Tensor t : layout.tensors()) {
            Tensor f = params.get(t.name()).detach().to(torch.ScalarType.Float).contiguous();
            FloatBuffer buf = f.createBuffer();
            buf.get(out, t.offset(), t.size());
        }
        return out;
    }
}
