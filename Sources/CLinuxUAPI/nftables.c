// libnftables, loaded at run time: building Isthmus needs no libnftables-dev, and a host without nftables gets an
// error naming the library instead of a binary that does not start. The signatures below are libnftables 1.0's
// (nftables/libnftables.h, stable since 0.9).
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "CLinuxUAPI.h"

struct nft_ctx;

/// NFT_CTX_DEFAULT from libnftables.h (the output flags are in CLinuxUAPI.h).
#define ISTHMUS_NFT_CTX_DEFAULT 0u

static struct {
    struct nft_ctx *(*ctx_new)(uint32_t flags);
    void (*ctx_free)(struct nft_ctx *ctx);
    int (*run_cmd_from_buffer)(struct nft_ctx *ctx, const char *buf);
    int (*ctx_buffer_output)(struct nft_ctx *ctx);
    int (*ctx_buffer_error)(struct nft_ctx *ctx);
    const char *(*ctx_get_output_buffer)(struct nft_ctx *ctx);
    const char *(*ctx_get_error_buffer)(struct nft_ctx *ctx);
    void (*ctx_output_set_flags)(struct nft_ctx *ctx, unsigned int flags);
} nft;

static pthread_once_t nft_once = PTHREAD_ONCE_INIT;
static int nft_loaded;
static char nft_load_error[512];

static void nft_load(void) {
    void *lib = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *e = dlerror();
        snprintf(nft_load_error, sizeof(nft_load_error), "%s", e ? e : "dlopen(libnftables.so.1) failed");
        return;
    }
    struct { const char *name; void **slot; } symbols[] = {
        {"nft_ctx_new", (void **)&nft.ctx_new},
        {"nft_ctx_free", (void **)&nft.ctx_free},
        {"nft_run_cmd_from_buffer", (void **)&nft.run_cmd_from_buffer},
        {"nft_ctx_buffer_output", (void **)&nft.ctx_buffer_output},
        {"nft_ctx_buffer_error", (void **)&nft.ctx_buffer_error},
        {"nft_ctx_get_output_buffer", (void **)&nft.ctx_get_output_buffer},
        {"nft_ctx_get_error_buffer", (void **)&nft.ctx_get_error_buffer},
        {"nft_ctx_output_set_flags", (void **)&nft.ctx_output_set_flags},
    };
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        *symbols[i].slot = dlsym(lib, symbols[i].name);
        if (!*symbols[i].slot) {
            snprintf(nft_load_error, sizeof(nft_load_error), "libnftables.so.1 has no symbol %s", symbols[i].name);
            dlclose(lib);
            memset(&nft, 0, sizeof(nft));
            return;
        }
    }
    nft_loaded = 1;  // the handle stays open for the life of the process
}

int isthmus_nft_load(void) {
    pthread_once(&nft_once, nft_load);
    return nft_loaded ? 0 : -1;
}

const char *isthmus_nft_load_error(void) { return nft_load_error; }

isthmus_nft *isthmus_nft_new(void) {
    if (isthmus_nft_load() != 0) return NULL;
    struct nft_ctx *ctx = nft.ctx_new(ISTHMUS_NFT_CTX_DEFAULT);
    if (!ctx) return NULL;
    if (nft.ctx_buffer_output(ctx) != 0 || nft.ctx_buffer_error(ctx) != 0) {
        nft.ctx_free(ctx);
        return NULL;
    }
    return (isthmus_nft *)ctx;
}

void isthmus_nft_free(isthmus_nft *ctx) {
    if (ctx) nft.ctx_free((struct nft_ctx *)ctx);
}

int isthmus_nft_run(isthmus_nft *ctx, const char *script, unsigned int output_flags) {
    struct nft_ctx *c = (struct nft_ctx *)ctx;
    nft.ctx_output_set_flags(c, output_flags);
    return nft.run_cmd_from_buffer(c, script);
}

const char *isthmus_nft_output(isthmus_nft *ctx) { return nft.ctx_get_output_buffer((struct nft_ctx *)ctx); }

const char *isthmus_nft_error(isthmus_nft *ctx) { return nft.ctx_get_error_buffer((struct nft_ctx *)ctx); }
