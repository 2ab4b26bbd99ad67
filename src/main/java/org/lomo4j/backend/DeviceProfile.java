package org.lomo4j.backend;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.lomo4j.memory.MemoryLedger;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where a device backend's time went ({@code train --device-profile}): per graph execution, the time of the
 * device's kernels, of launching them, of moving data and of compiling; per kernel, its device time and launches.
 * The backend feeds it from its profiler (TornadoVM's); the trainer prints {@link #table} and puts {@link #putInto}
 * in report.json.
 */
public final class DeviceProfile {
    /** One kernel (a task of a graph): device time summed over its launches. */
    public record Kernel(String name, long nanos, long launches) {}

    private long executions, totalNanos, compileNanos, kernelNanos, dispatchNanos, transferNanos, bytesIn, bytesOut;
    private final Map<String, long[]> kernels = new LinkedHashMap<>();

    /** One graph execution's totals, in nanoseconds and bytes, as the profiler reports them. */
    public void addExecution(long total, long compile, long kernel, long dispatch, long transfer, long in, long out) {
        executions++;
        totalNanos += total;
        compileNanos += compile;
        kernelNanos += kernel;
        dispatchNanos += dispatch;
        transferNanos += transfer;
        bytesIn += in;
        bytesOut += out;
    }

    /** Forgets the kernels, for a backend that re-reads its profiler's whole log. */
    public void clearKernels() {
        kernels.clear();
    }

    /** One launch of kernel {@code name} that ran {@code nanos} on the device. */
    public void addKernel(String name, long nanos) {
        long[] k = kernels.computeIfAbsent(name, x -> new long[2]);
        k[0] += nanos;
        k[1]++;
    }

    /** The kernels, the most device time first. */
    public List<Kernel> kernels() {
        List<Kernel> out = new ArrayList<>();
        kernels.forEach((name, k) -> out.add(new Kernel(name, k[0], k[1])));
        out.sort((a, b) -> Long.compare(b.nanos(), a.nanos()));
        return out;
    }

    public long kernelNanos() {
        return kernelNanos;
    }

    public long compileNanos() {
        return compileNanos;
    }

    /** Totals, then the {@code top} kernels by device time. */
    public String table(int top) {
        StringBuilder sb = new StringBuilder("Device profile (" + executions + " graph runs; times summed over the run)\n");
        row(sb, "Total (profiler)", totalNanos);
        row(sb, "Compilation", compileNanos);
        row(sb, "Kernels on device", kernelNanos);
        row(sb, "Kernel launches", dispatchNanos);
        row(sb, "Data transfers", transferNanos);
        sb.append(String.format(Locale.ROOT, "  %-30s %s in, %s out%n", "Bytes moved", MemoryLedger.human(bytesIn), MemoryLedger.human(bytesOut)));
        List<Kernel> all = kernels();
        sb.append(String.format(Locale.ROOT, "  Top kernels by device time (%d kernels)%n", all.size()));
        for (Kernel k : all.subList(0, Math.min(top, all.size()))) {
            sb.append(String.format(Locale.ROOT, "    %-28s %10.1f ms  %5.1f%%  %6d launches%n", k.name(), k.nanos() / 1e6,
                    kernelNanos == 0 ? 0 : 100.0 * k.nanos() / kernelNanos, k.launches()));
        }
        return sb.toString();
    }

    private static void row(StringBuilder sb, String what, long nanos) {
        sb.append(String.format(Locale.ROOT, "  %-30s %10.1f ms%n", what, nanos / 1e6));
    }

    /** The totals and every kernel, as {@code report.device_profile}. */
    public void putInto(ObjectNode report) {
        ObjectNode p = report.putObject("device_profile");
        p.put("graph_runs", executions);
        p.put("total_ns", totalNanos);
        p.put("compile_ns", compileNanos);
        p.put("kernel_ns", kernelNanos);
        p.put("launch_ns", dispatchNanos);
        p.put("transfer_ns", transferNanos);
        p.put("bytes_to_device", bytesIn);
        p.put("bytes_from_device", bytesOut);
        var ks = p.putArray("kernels");
        for (Kernel k : kernels()) ks.addObject().put("name", k.name()).put("ns", k.nanos()).put("launches", k.launches());
    }
}
