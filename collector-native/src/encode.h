/* Ring-buffer records to the shared collector event schema (OpenTelemetry names, aiops.* for the rest). */
#ifndef ROOTLINE_ENCODE_H
#define ROOTLINE_ENCODE_H
#include <stddef.h>
#include <stdint.h>
#include "config.h"

void encode_init(const struct config *cfg);
/* Refreshes the CLOCK_MONOTONIC to wall-clock offset (NTP may slew the wall clock). */
void encode_clock_sync(void);
/* Encodes one record (and any security alert it implies) into the sender's open batch. */
int encode_record(const void *data, size_t size);
struct cpu_sample;
/* Encodes one aiops.process.sample event (see cpusample.h). */
void encode_cpu_sample(const struct cpu_sample *s);
struct conn;
/* Encodes one periodic aiops.tcp.connection event for a connection still open (see connreport.h). */
void encode_conn_open(const struct conn *c, uint64_t now_ns);
/* Drops what is cached about a process (it exited or exec'd). */
void encode_forget_process(uint32_t tgid);
#endif
