/*
 * Periodic reports of long-lived TCP connections: every --conn-report-ms the loader walks the kernel's `conns`
 * map and emits an aiops.tcp.connection event (network.connection.state=established) for each established
 * connection open for at least that long since it was established or last reported. The close event is
 * unchanged and still carries the totals.
 */
#ifndef ROOTLINE_CONNREPORT_H
#define ROOTLINE_CONNREPORT_H
#include <stdbool.h>
#include <stdint.h>

/*
 * One pass over the map behind map_fd (max_entries entries at most). now_ms is the loader's CLOCK_MONOTONIC
 * time in ms: the main loop calls this at least period_ms apart, and a connection is due when now_ms is at
 * least period_ms past its reference time. With cgroup_filter set, connections without an owner (inbound, not
 * accepted yet) are skipped, as at close. Main thread only (it encodes).
 */
void connreport_tick(int map_fd, uint32_t max_entries, uint64_t now_ms, uint64_t period_ms, bool cgroup_filter);
#endif
