/* The request line and status line of HTTP/1.x, from the bounded prefixes the kernel captured. */
#ifndef ROOTLINE_HTTP_PARSE_H
#define ROOTLINE_HTTP_PARSE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_request {
	char method[16];
	char path[256];
	char query[256];
	char version[8]; /* "1.0" or "1.1" */
	int64_t content_length; /* -1 when not seen in the captured headers */
	bool truncated;  /* the request line did not fit in the capture */
};

struct http_response {
	unsigned status; /* 0 when the status line was not readable */
};

/* redact: replace each query value with "REDACTED", as OpenTelemetry advises for url.query. */
void http_parse_request(const char *buf, size_t n, bool keep_query, struct http_request *out);
void http_parse_response(const char *buf, size_t n, struct http_response *out);
#endif
