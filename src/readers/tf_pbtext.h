/* tf_pbtext.h: protobuf text format into protobuf-c messages (private to
 * src/).
 *
 * protobuf-c reads the binary wire format only. TensorFlow also writes
 * text: `saved_model.pbtxt` (SavedModelBuilder.save(as_text=True)), the
 * `checkpoint` state file, graph .pbtxt files. tf_pbtext_parse() reads
 * that text into the same protobuf-c message the binary decoder would
 * make, driven by the message's ProtobufCMessageDescriptor alone, so the
 * code that uses the message is shared between the two forms.
 *
 * Grammar (google/protobuf/text_format.cc, the language guide's "Text
 * Format Language Specification"): a message is a list of fields
 * `name: value` (scalars; the colon is required) or `name { ... }` /
 * `name < ... >` (messages; the colon optional), each optionally followed
 * by ',' or ';'; repeated fields repeat, or take a list `name: [a, b]`;
 * maps are repeated `{key: .. value: ..}` entries; `#` starts a comment.
 * Scalars: strings in '...' or "..." with C escapes (\n \t \\ \' \" \?
 * \a \b \f \r \v, octal \NNN, hex \xHH, \uXXXX, \UXXXXXXXX), adjacent
 * strings concatenated; integers in decimal, 0x hex or 0 octal; reals
 * with exponent and an optional f suffix, inf, infinity, nan; bools
 * true/false/t/f/True/False/1/0; enums by name or number. Fields the
 * descriptor does not know, and `[extension]` / `[type.url/Any]` fields,
 * are checked for well-formedness and skipped, as the binary decoder
 * skips unknown fields. A singular message given twice is merged, a
 * singular scalar given twice takes the last value (binary semantics).
 *
 * Bounded: nesting depth, the number of elements and messages created,
 * and every string (never longer than the input) are limited; errors
 * give the line, column and byte offset. */
#ifndef MFS_TF_PBTEXT_H
#define MFS_TF_PBTEXT_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "core/err.h"
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

struct tf_pbtext_opts {
    int max_depth;      /* message nesting; 0 = 100 */
    size_t max_items;   /* repeated elements and messages created; 0 = 1 << 24 */
    /* optional: the value of identifier @s (@n bytes) given to integer
     * field @f, for enums that the .proto declares as int32 (TF's DataType
     * fields): 0 with *@out set, or -1 (then it is an error) */
    int (*ident)(void *ctx, const ProtobufCFieldDescriptor *f, const char *s, size_t n,
                 int64_t *out);
    void *ctx;
};

/** tf_pbtext_parse() : parses @len bytes of text-format @text as a message
 *  of type @d. @o may be NULL (defaults). @return a new message (free with
 *  protobuf_c_message_free_unpacked(m, NULL)), or NULL with @e set
 *  (MFS_FAILED, EINVAL, byte offset, "line L, column C: what") or
 *  (MFS_FAILED, ENOMEM). */
ProtobufCMessage *tf_pbtext_parse(const ProtobufCMessageDescriptor *d, const char *text, size_t len,
                                  const struct tf_pbtext_opts *o, mfs_err *e);
#endif
