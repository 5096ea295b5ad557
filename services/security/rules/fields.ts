/**
 * The fields a rule condition may read: those of collector events (collector-native/README.md), plus the
 * ones the security engine derives before rules run (see ../engine.ts).
 */

const COMMON = [
  'event.name', 'aiops.seq', 'host.name', 'host.id',
  'process.pid', 'process.vpid', 'process.executable.name', 'process.executable.path',
  'aiops.cgroup.id', 'process.linux.cgroup',
  'container.id', 'container.name', 'container.image.name',
  'k8s.pod.name', 'k8s.pod.uid', 'k8s.namespace.name', 'k8s.container.name', 'k8s.node.name',
];

const TCP = [
  'network.transport', 'network.type', 'network.local.address', 'network.local.port', 'network.peer.address', 'network.peer.port',
  'server.address', 'server.port', 'client.address', 'client.port',
  'aiops.tcp.direction', 'aiops.tcp.result', 'error.type', 'aiops.tcp.connect_duration_ns', 'aiops.tcp.duration_ns',
  'aiops.tcp.bytes_sent', 'aiops.tcp.bytes_received', 'aiops.tcp.retransmits', 'aiops.tcp.srtt_us',
  'aiops.listen.action',
];

const HTTP = ['aiops.http.side', 'http.request.method', 'url.path', 'url.query', 'network.protocol.version', 'http.response.status_code', 'aiops.http.duration_ns', 'http.request.body.size', 'aiops.http.partial'];

const PROCESS = [
  'process.parent_pid', 'aiops.process.parent_executable.name', 'process.command_line', 'process.user.id', 'process.interactive',
  'process.working_directory', 'process.exit.code', 'aiops.process.exit.signal',
  'aiops.process.executable.writer.name', 'aiops.process.executable.writer.pid', 'aiops.process.executable.written_ago_ms',
  'process.cpu.time', 'process.cpu.utilization', 'aiops.process.cpu.cores', 'aiops.sample.interval_ms',
];

/** Facts the collector reports as `aiops.security.alert` events (its built-in classification is a fact here). */
const FACTS = [
  'aiops.security.kind', 'security_rule.name', 'security_rule.category', 'security_rule.reference', 'aiops.severity',
  'file.path', 'aiops.syscall', 'aiops.syscall.result', 'aiops.open.flags',
  'aiops.mount.source', 'aiops.mount.target', 'aiops.mount.fstype', 'aiops.mount.flags',
  'aiops.dup.oldfd', 'aiops.dup.newfd', 'aiops.evidence_event_ids',
];

/** Derived by the engine: the workload, whether it runs in a container, its learned baseline's verdict, and the
 * process's recent outbound ports and CPU (so one rule can join a connection and a CPU sample), and mount flags
 * by name (MS_BIND…). */
export const DERIVED = [
  'aiops.workload', 'aiops.container',
  'aiops.baseline.learning', 'aiops.baseline.new_process', 'aiops.baseline.new_peer', 'aiops.baseline.new_listen_port',
  'aiops.process.peer_ports', 'aiops.process.recent_cpu_cores', 'aiops.mount.flag_names',
] as const;

export const KNOWN_FIELDS: ReadonlySet<string> = new Set([...COMMON, ...TCP, ...HTTP, ...PROCESS, ...FACTS, ...DERIVED]);
