/*
 * config.c -- opening an S3 client: the endpoint, the region and the
 * credentials, resolved from the caller's settings, the AWS environment
 * variables and the shared files (~/.aws/credentials, ~/.aws/config) as
 * the AWS CLI reads them.  Secrets are copied into the client and nowhere
 * else; no message names them.
 */
#include "remote/remote_int.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

/* ---- INI files ------------------------------------------------------------- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = 0;
    return s;
}

char *flor__ini_get(const char *path, const char *section, const char *key, int *found_section)
{
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return NULL;
    char line[4096], *value = NULL;
    int in = 0;
    while (fgets(line, sizeof line, f)) {
        char *s = trim(line);
        if (*s == '#' || *s == ';' || !*s)
            continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (!e)
                continue;
            *e = 0;
            in = strcmp(trim(s + 1), section) == 0;
            if (in && found_section)
                *found_section = 1;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!in || !eq)
            continue;
        *eq = 0;
        if (strcmp(trim(s), key) == 0) {
            free(value);
            value = flor__strdup(trim(eq + 1));
        }
    }
    fclose(f);
    return value;
}

/* The shared files' paths, as the AWS CLI finds them. */
static char *aws_file(const char *env, const char *name)
{
    const char *p = getenv(env);
    if (p && *p)
        return flor__strdup(p);
    const char *home = getenv("HOME");
    return home && *home ? flor__printf("%s/.aws/%s", home, name) : NULL;
}

/* KEY of profile PROFILE: the credentials file's [PROFILE] first, then the
 * config file's [profile PROFILE] (or [default]). */
static char *profile_get(const char *creds, const char *config, const char *profile,
                         const char *key, int *found)
{
    char *v = flor__ini_get(creds, profile, key, found);
    if (v)
        return v;
    char sect[300];
    snprintf(sect, sizeof sect, strcmp(profile, "default") == 0 ? "%s" : "profile %s", profile);
    return flor__ini_get(config, sect, key, found);
}

/* ---- the client --------------------------------------------------------------- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void wipe_free(char *s)
{
    if (s) {
        volatile char *p = s;
        while (*p)
            *p++ = 0;
        free(s);
    }
}

void flor__s3_free(flor__s3 *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->endpoint);
    free(c->scheme);
    free(c->hostport);
    free(c->bucket);
    free(c->region);
    free(c->sigv4);
    wipe_free(c->access_key);
    wipe_free(c->secret_key);
    wipe_free(c->session_token);
    free(c->cred_source);
    free(c);
}

const char *flor__s3_errcode(const flor__s3 *c) { return c->errcode; }
const char *flor__s3_bucket(const flor__s3 *c) { return c->bucket; }
const char *flor__s3_endpoint(const flor__s3 *c) { return c->endpoint; }
const char *flor__s3_region(const flor__s3 *c) { return c->region; }
const char *flor__s3_cred_source(const flor__s3 *c) { return c->cred_source; }

/* The credentials, in the order remote.h gives. */
static int find_credentials(flor__s3 *c, const flor__s3_config *cfg, const char *creds,
                            const char *config)
{
    if (cfg->access_key && cfg->secret_key) {
        c->access_key = flor__strdup(cfg->access_key);
        c->secret_key = flor__strdup(cfg->secret_key);
        c->session_token = cfg->session_token ? flor__strdup(cfg->session_token) : NULL;
        c->cred_source = flor__strdup("config");
        return 0;
    }
    if (!cfg->profile && env("AWS_ACCESS_KEY_ID") && env("AWS_SECRET_ACCESS_KEY")) {
        c->access_key = flor__strdup(env("AWS_ACCESS_KEY_ID"));
        c->secret_key = flor__strdup(env("AWS_SECRET_ACCESS_KEY"));
        c->session_token = env("AWS_SESSION_TOKEN") ? flor__strdup(env("AWS_SESSION_TOKEN")) : NULL;
        c->cred_source = flor__strdup("environment");
        return 0;
    }
    const char *profile = cfg->profile ? cfg->profile : env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
    int found = 0;
    c->access_key = profile_get(creds, config, profile, "aws_access_key_id", &found);
    c->secret_key = profile_get(creds, config, profile, "aws_secret_access_key", &found);
    c->session_token = profile_get(creds, config, profile, "aws_session_token", &found);
    if (c->access_key && c->secret_key) {
        c->cred_source = flor__printf("profile %s", profile);
        return 0;
    }
    if (found)
        return flor__err(FLOR_EINVAL, "s3://%s: profile '%s' in %s or %s: expected "
                         "aws_access_key_id and aws_secret_access_key", c->bucket, profile,
                         creds ? creds : "~/.aws/credentials", config ? config : "~/.aws/config");
    if (cfg->profile || env("AWS_PROFILE"))
        return flor__err(FLOR_EINVAL, "s3://%s: no profile '%s' in %s or %s", c->bucket, profile,
                         creds ? creds : "~/.aws/credentials", config ? config : "~/.aws/config");
    return flor__err(FLOR_EINVAL, "s3://%s: no credentials: expected AWS_ACCESS_KEY_ID and "
                     "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a [default] profile in %s",
                     c->bucket, creds ? creds : "~/.aws/credentials");
}

/* ENDPOINT as SCHEME://HOST[:PORT], a trailing '/' allowed. */
static int parse_endpoint(flor__s3 *c, const char *endpoint)
{
    const char *rest = NULL;
    if (strncmp(endpoint, "http://", 7) == 0)
        c->scheme = flor__strdup("http"), rest = endpoint + 7;
    else if (strncmp(endpoint, "https://", 8) == 0)
        c->scheme = flor__strdup("https"), rest = endpoint + 8;
    size_t n = rest ? strcspn(rest, "/?#") : 0;
    if (!rest || n == 0 || (rest[n] && strcmp(rest + n, "/") != 0))
        return flor__err(FLOR_EINVAL, "s3 endpoint '%s': expected http(s)://HOST[:PORT]", endpoint);
    c->hostport = flor__printf("%.*s", (int)n, rest);
    c->endpoint = flor__printf("%s://%s", c->scheme ? c->scheme : "", c->hostport ? c->hostport : "");
    return 0;
}

int flor__s3_open(flor__s3 **out, const flor__s3_config *cfg)
{
    *out = NULL;
    if (!cfg->bucket || !*cfg->bucket)
        return flor__err(FLOR_EINVAL, "s3: no bucket: expected a bucket name");
    int rc = flor__s3_curl_init();
    if (rc)
        return rc;
    flor__s3 *c = calloc(1, sizeof *c);
    if (!c)
        return flor__err(FLOR_ENOMEM, "out of memory");
    char *creds = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    char *config = aws_file("AWS_CONFIG_FILE", "config");
    const char *profile = cfg->profile ? cfg->profile : env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
    char *pregion = NULL, *pendpoint = NULL;
    c->bucket = flor__strdup(cfg->bucket);
    if (!c->bucket) {
        rc = flor__err(FLOR_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = find_credentials(c, cfg, creds, config)))
        goto done;

    const char *region = cfg->region ? cfg->region : env("AWS_REGION") ? env("AWS_REGION")
                       : env("AWS_DEFAULT_REGION");
    if (!region)
        region = pregion = profile_get(NULL, config, profile, "region", NULL);
    c->region = flor__strdup(region ? region : "us-east-1");

    const char *endpoint = cfg->endpoint ? cfg->endpoint : env("AWS_ENDPOINT_URL_S3")
                         ? env("AWS_ENDPOINT_URL_S3") : env("AWS_ENDPOINT_URL");
    if (!endpoint)
        endpoint = pendpoint = profile_get(NULL, config, profile, "endpoint_url", NULL);
    char *aws = NULL;
    if (!endpoint)
        endpoint = aws = flor__printf("https://s3.%s.amazonaws.com", c->region ? c->region : "");
    rc = endpoint ? parse_endpoint(c, endpoint) : flor__err(FLOR_ENOMEM, "out of memory");
    free(aws);
    if (rc)
        goto done;
    int on_aws = c->hostport && strstr(c->hostport, "amazonaws.com") != NULL;
    c->path_style = cfg->path_style == FLOR__S3_PATH ? 1
                  : cfg->path_style == FLOR__S3_VHOST ? 0 : !on_aws;
    c->sigv4 = flor__printf("aws:amz:%s:s3", c->region ? c->region : "");
    c->retries = cfg->retries < 0 ? 0 : cfg->retries == 0 ? 4 : cfg->retries;
    c->backoff_s = cfg->backoff_s > 0 ? cfg->backoff_s : 0.2;
    c->connect_timeout_s = cfg->connect_timeout_s > 0 ? cfg->connect_timeout_s : 10;
    c->list_page = cfg->list_page > 0 ? cfg->list_page : 0;
    c->curl = curl_easy_init();
    if (!c->region || !c->sigv4 || !c->access_key || !c->secret_key || !c->cred_source ||
        !c->endpoint || !c->hostport || !c->scheme || !c->curl)
        rc = flor__err(FLOR_ENOMEM, "out of memory");
done:
    free(creds);
    free(config);
    free(pregion);
    free(pendpoint);
    if (rc)
        flor__s3_free(c);
    else
        *out = c;
    return rc;
}
