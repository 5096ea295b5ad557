/** Names for the per-pod metric columns of the Nezha layout, as OTel-style gauges. */

/**
 * Nezha metric columns → OTel-style gauge names. Values are passed through unscaled, so each name carries its
 * unit; `null` drops the column. Columns not listed get `nezha.<snake_case>` with the unit from the
 * parentheses, so another data set's extra columns still arrive.
 *
 * | CSV column               | metric                                    | unit             |
 * |--------------------------|-------------------------------------------|------------------|
 * | CpuUsage(m)              | k8s.pod.cpu.usage_millicores              | {millicore}      |
 * | CpuUsageRate(%)          | k8s.pod.cpu.usage_rate_percent            | %                |
 * | MemoryUsage(Mi)          | k8s.pod.memory.usage_mebibytes            | MiBy             |
 * | MemoryUsageRate(%)       | k8s.pod.memory.usage_rate_percent         | %                |
 * | SyscallRead              | k8s.pod.syscall.read                      | {syscall}        |
 * | SyscallWrite             | k8s.pod.syscall.write                     | {syscall}        |
 * | NetworkReceiveBytes      | k8s.pod.network.receive_bytes_rate        | By/s             |
 * | NetworkTransmitBytes     | k8s.pod.network.transmit_bytes_rate       | By/s             |
 * | PodClientLatencyP90(s)   | k8s.pod.client.latency.p90_seconds        | s                |
 * | PodServerLatencyP90(s)   | k8s.pod.server.latency.p90_seconds        | s                |
 * | PodClientLatencyP95(s)   | k8s.pod.client.latency.p95_seconds        | s                |
 * | PodServerLatencyP95(s)   | k8s.pod.server.latency.p95_seconds        | s                |
 * | PodClientLatencyP99(s)   | k8s.pod.client.latency.p99_seconds        | s                |
 * | PodServerLatencyP99(s)   | k8s.pod.server.latency.p99_seconds        | s                |
 * | PodWorkload(Ops)         | k8s.pod.workload_ops_rate                 | {operation}/s    |
 * | PodSuccessRate(%)        | dropped: 0 in every row, would read as 0 % | —                |
 * | NodeCpuUsageRate(%)      | k8s.node.cpu.usage_rate_percent           | %                |
 * | NodeMemoryUsageRate(%)   | k8s.node.memory.usage_rate_percent        | %                |
 * | NodeNetworkReceiveBytes  | k8s.node.network.receive_bytes_rate       | By/s             |
 *
 * The network and workload columns are per-second rates over the minute (idle pods show tens of kB and ~10
 * ops), hence `/s`. Node columns describe the pod's node but stay on the pod's resource: the metric CSV does
 * not name the node.
 */
export const METRIC_COLUMNS: Readonly<Record<string, { name: string; unit: string } | null>> = {
  'CpuUsage(m)': { name: 'k8s.pod.cpu.usage_millicores', unit: '{millicore}' },
  'CpuUsageRate(%)': { name: 'k8s.pod.cpu.usage_rate_percent', unit: '%' },
  'MemoryUsage(Mi)': { name: 'k8s.pod.memory.usage_mebibytes', unit: 'MiBy' },
  'MemoryUsageRate(%)': { name: 'k8s.pod.memory.usage_rate_percent', unit: '%' },
  SyscallRead: { name: 'k8s.pod.syscall.read', unit: '{syscall}' },
  SyscallWrite: { name: 'k8s.pod.syscall.write', unit: '{syscall}' },
  NetworkReceiveBytes: { name: 'k8s.pod.network.receive_bytes_rate', unit: 'By/s' },
  NetworkTransmitBytes: { name: 'k8s.pod.network.transmit_bytes_rate', unit: 'By/s' },
  'PodClientLatencyP90(s)': { name: 'k8s.pod.client.latency.p90_seconds', unit: 's' },
  'PodServerLatencyP90(s)': { name: 'k8s.pod.server.latency.p90_seconds', unit: 's' },
  'PodClientLatencyP95(s)': { name: 'k8s.pod.client.latency.p95_seconds', unit: 's' },
  'PodServerLatencyP95(s)': { name: 'k8s.pod.server.latency.p95_seconds', unit: 's' },
  'PodClientLatencyP99(s)': { name: 'k8s.pod.client.latency.p99_seconds', unit: 's' },
  'PodServerLatencyP99(s)': { name: 'k8s.pod.server.latency.p99_seconds', unit: 's' },
  'PodWorkload(Ops)': { name: 'k8s.pod.workload_ops_rate', unit: '{operation}/s' },
  'PodSuccessRate(%)': null,
  'NodeCpuUsageRate(%)': { name: 'k8s.node.cpu.usage_rate_percent', unit: '%' },
  'NodeMemoryUsageRate(%)': { name: 'k8s.node.memory.usage_rate_percent', unit: '%' },
  NodeNetworkReceiveBytes: { name: 'k8s.node.network.receive_bytes_rate', unit: 'By/s' },
};

/** The gauge a metric column becomes (see {@link METRIC_COLUMNS}); null when the column is dropped. */
export function metricForColumn(column: string): { name: string; unit: string } | null {
  if (column in METRIC_COLUMNS) return METRIC_COLUMNS[column] ?? null;
  const m = /^(.*?)\s*(?:\(([^)]*)\))?$/.exec(column.trim());
  const base = (m?.[1] ?? column)
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_|_$/g, '')
    .toLowerCase();
  if (!base) return null;
  const unit = m?.[2] ?? '';
  const suffix = unit.replace(/%/g, 'percent').replace(/[^A-Za-z0-9]+/g, '_').toLowerCase();
  return { name: `nezha.${base}${suffix ? `_${suffix}` : ''}`, unit: unit || '1' };
}
