/*
 * Security rules evaluated on kernel facts: Falco's rule names where the meaning matches, MITRE ATT&CK ids.
 * Writes under system paths, mounts and socket-to-stdio dups are alerts by themselves; an exec is one when
 * it starts a shell, a network tool or a package manager inside a container; a listen is one when the port
 * is new since the collector started.
 */
#ifndef ROOTLINE_RULES_H
#define ROOTLINE_RULES_H
#include <stdbool.h>
#include <stdint.h>
#include "sbuf.h"

struct rule_hit {
	const char *name;
	const char *kind;
	const char *category;
	const char *reference;
	const char *severity;
};

/* Fields of a record that is an alert by itself (file write, mount, dup); false to drop the record. */
bool rules_security_fields(struct jobj *o, const void *data, uint32_t type);
/* Whether an exec or listen record also raises an alert. */
bool rules_check(const void *data, uint32_t type, struct rule_hit *hit);
void rules_alert_fields(struct jobj *o, const void *data, uint32_t type, const struct rule_hit *hit, uint64_t evidence_seq);
#endif
