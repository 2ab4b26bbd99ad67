package org.lomo4j.optim;

/**
 * One optimizer step: the batch's loss before the update, the global gradient norm (NaN when not computed),
 * the lr, and whether the update was skipped because the (loss-scaled) gradients were not finite.
 */
public record StepResult(float loss, double gradNorm, double lr, boolean skipped) {
    public StepResult(float loss, double gradNorm, double lr) {
        this(loss, gradNorm, lr, false);
    }
}
