/**
 * The labels the security watch (services/security) gives its alerts, which RCA (services/rca) reads back as
 * evidence: one convention in one place, so neither service reaches into the other.
 */
export const SECURITY_DETECTOR = 'rootline-security';

/** The label naming the detector, the topology entity a rule fired on, and the host it runs on. */
export const SECURITY_LABELS = { detector: 'detector', entity: 'entity', host: 'host' } as const;
