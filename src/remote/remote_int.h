/*
 * remote/remote_int.h -- what the files of src/remote/ share: the client's
 * fields.  Private to this layer.
 */
#ifndef FLOR_REMOTE_INT_H
#define FLOR_REMOTE_INT_H

#include "base/base.h"
#include "remote/remote.h"

struct flor__s3 {
    void *curl;             /* the CURL easy handle, kept for its connection */
    char *endpoint;         /* "http://127.0.0.1:9000", no trailing '/' */
    char *scheme;           /* "http" or "https" */
    char *hostport;         /* "127.0.0.1:9000" */
    char *bucket, *region;
    char *sigv4;            /* "aws:amz:REGION:s3" */
    char *access_key, *secret_key, *session_token;
    char *cred_source;      /* "environment", "profile NAME", "config" */
    int path_style;
    int retries, list_page;
    double backoff_s, connect_timeout_s;
    char errcode[64];       /* the server's code of the last failure */
};

/* s3.c */
int flor__s3_curl_init(void);
/* The text of the first <TAG>..</TAG> in [P, END) into OUT (entities
 * decoded; OUT may be NULL when OUT_SIZE is 0); a pointer past the closing
 * tag, or NULL when there is none. */
const char *flor__xml_text(const char *p, const char *end, const char *tag, char *out,
                           size_t out_size);

/* config.c: VALUE of KEY in section SECTION of the INI file PATH (malloc'd,
 * or NULL: no file, no section, no key).  *FOUND_SECTION is set when the
 * section exists. */
char *flor__ini_get(const char *path, const char *section, const char *key, int *found_section);

#endif
