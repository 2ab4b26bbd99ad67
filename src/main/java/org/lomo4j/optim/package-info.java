/**
 * Optimizers. {@link org.lomo4j.optim.Lomo} fuses each weight's gradient with its update during backward;
 * {@link org.lomo4j.optim.Sgd} and {@link org.lomo4j.optim.AdamW} are the standard way, holding a full
 * gradient buffer (and, for AdamW, two moment buffers), kept as references to compare against.
 */
package org.lomo4j.optim;
