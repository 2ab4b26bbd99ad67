package org.lomo4j.backend;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DeviceProfileTest {

    /** Totals add up over graph runs; kernels sum their launches and come most-time first, in the table and the report. */
    @Test
    void sumsRunsAndRanksKernels() {
        DeviceProfile p = new DeviceProfile();
        p.addExecution(10_000_000, 4_000_000, 5_000_000, 600_000, 400_000, 2048, 16);
        p.addExecution(6_000_000, 0, 5_000_000, 600_000, 400_000, 0, 16);
        p.addKernel("block_bwd.down_lomo", 3_000_000);
        p.addKernel("block_fwd.q_proj", 1_000_000);
        p.addKernel("block_bwd.down_lomo", 4_000_000);
        p.addKernel("block_fwd.q_proj", 2_000_000);

        assertEquals(10_000_000, p.kernelNanos());
        assertEquals(4_000_000, p.compileNanos());
        var kernels = p.kernels();
        assertEquals(new DeviceProfile.Kernel("block_bwd.down_lomo", 7_000_000, 2), kernels.get(0));
        assertEquals(new DeviceProfile.Kernel("block_fwd.q_proj", 3_000_000, 2), kernels.get(1));

        String table = p.table(1);
        assertTrue(table.contains("2 graph runs"), table);
        assertTrue(table.contains("Kernels on device") && table.contains("10.0 ms"), table);
        assertTrue(table.contains("block_bwd.down_lomo") && table.contains("70.0%"), table);
        assertTrue(!table.contains("q_proj"), "only the top 1: " + table);

        ObjectNode report = new ObjectMapper().createObjectNode();
        p.putInto(report);
        var json = report.get("device_profile");
        assertEquals(16_000_000, json.get("total_ns").asLong());
        assertEquals(2048, json.get("bytes_to_device").asLong());
        assertEquals(32, json.get("bytes_from_device").asLong());
        assertEquals("block_fwd.q_proj", json.get("kernels").get(1).get("name").asText());

        p.clearKernels();
        assertTrue(p.kernels().isEmpty());
    }
}
