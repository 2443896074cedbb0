/* libFuzzer target: the protobuf text-format parser (tf_pbtext.c) on a
 * text SavedModel, then the same text mounted as saved_model.pbtxt of a
 * SavedModel directory (parse, pack, walk the meta graphs, signatures,
 * metadata) and walked through every view. A parsed message must pack
 * into bytes the binary decoder accepts.
 * Seeds (tests/fuzz/seeds.sh): the corpus SavedModels printed as text by
 * tests/oracle/tf_pbtext.py. */
#include "fuzz_common.h"
#include "readers/tf_dtype.h"
#include "readers/tf_pbtext.h"
#include "tf_saved_model_text.pb-c.h"
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static char dir[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mfs_log_set_quiet(1);
    struct tf_pbtext_opts o = {.ident = tf_dtype_ident, .max_items = 1 << 16};
    mfs_err e;
    ProtobufCMessage *m =
        tf_pbtext_parse(&tfpb__saved_model_text__descriptor, (const char *)data, size, &o, &e);
    if (m) {
        size_t n = protobuf_c_message_get_packed_size(m);
        uint8_t *buf = malloc(n ? n : 1);
        if (!buf) abort();
        protobuf_c_message_pack(m, buf);
        ProtobufCMessage *b = protobuf_c_message_unpack(&tfpb__saved_model_text__descriptor, NULL, n, buf);
        if (!b) abort(); /* what the parser makes must be a valid message */
        protobuf_c_message_free_unpacked(b, NULL);
        free(buf);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/mfs-fuzz-pbtxt.XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    char path[128];
    snprintf(path, sizeof path, "%s/saved_model.pbtxt", dir);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    mfs_open_opts oo = {.format = "tf-savedmodel"};
    mfs_model *mm = NULL;
    if (mfs_model_open(dir, &oo, &mm, &e) >= 0) {
        mfs_fuzz_walk(mm);
        mfs_model_close(mm);
    }
    return 0;
}
