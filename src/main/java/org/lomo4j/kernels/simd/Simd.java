package org.lomo4j.kernels.simd;

/**
 * Whether the JDK Vector API kernels run. They need the incubator module on the JVM
 * ({@code --add-modules jdk.incubator.vector}, which {@code ./lomo4j} passes) and can be turned off with
 * {@code -Dlomo4j.simd=false}; otherwise the plain-Java kernels run, which give the same results up to
 * float rounding order.
 */
public final class Simd {
    private Simd() {}

    private static final boolean MODULE = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    private static final boolean REQUESTED = !"false".equals(System.getProperty("lomo4j.simd"));
    private static final boolean ENABLED = MODULE && REQUESTED && MatmulVector.supported();

    public static boolean enabled() {
        return ENABLED;
    }

    /** One line for logs: which matmul runs, and how to change it. */
    public static String describe() {
        if (ENABLED) return "SIMD on (Vector API, " + MatmulVector.lanes() + " float lanes)";
        if (MODULE && !REQUESTED) return "SIMD off (-Dlomo4j.simd=false)";
        if (MODULE) return "SIMD off: the CPU's vectors hold fewer than 8 floats";
        return "SIMD off: run java with --add-modules jdk.incubator.vector (./lomo4j does) for the Vector API kernels";
    }
}
