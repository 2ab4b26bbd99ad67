package org.lomo4j.optim;

/** One optimizer step: the batch's loss before the update, the global gradient norm (NaN when not computed), the lr. */
public record StepResult(float loss, double gradNorm, double lr) {}
