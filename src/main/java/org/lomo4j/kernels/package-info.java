/**
 * The transformer's forward and backward kernels: small static methods of plain loops over primitive
 * arrays, written in the subset of Java that TornadoVM compiles (no allocation, no objects, no
 * exceptions, no lambdas inside).
 *
 * <p>Conventions, after llm.c: arguments are outputs, then inputs, then weights, then sizes. A weight
 * lives in the flat parameter array and is passed as {@code (float[] params, int offset)}. Backward
 * kernels <em>accumulate</em> ({@code +=}) into their gradient outputs, so the caller zeroes them.
 * Each kernel's per-item body (one row, one token, one head) is a method of its own, named
 * {@code ...Row} or {@code ...Item}; a backend runs the items in parallel, and the whole-kernel
 * loops beside them are the sequential reference used by the tests.
 *
 * <p>Shapes use N = B·T (tokens in the batch), C (hidden size), F (intermediate size), V (vocab),
 * NH / NKV (query / key-value heads) and HD (head dimension).
 */
package org.lomo4j.kernels;
