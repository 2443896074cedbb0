/* tf_meta.h: MetaGraphDef (TF1 .meta files, the meta graphs of a
 * SavedModel) summarised for metadata/ and signatures/ (private to src/).
 *
 * The MetaGraphDef is walked field by field (tf_pb.h): its graph_def may
 * be huge and is never decoded as a whole; only its NodeDef op names are
 * counted. The small parts (MetaInfoDef, SaverDef, collections,
 * signatures, assets, the SavedObjectGraph) are decoded with protobuf-c. */
#ifndef MFS_TF_META_H
#define MFS_TF_META_H
#ifndef MFS_INTERNAL
#error "src headers are private to libmodelfs"
#endif
#include "core/tree.h"
#include "tf_saved_model.pb-c.h"

struct tf_metagraph {
    const unsigned char *graph_def;  /* inside the caller's buffer */
    size_t graph_len;
    Tfpb__MetaInfoDef *info;
    Tfpb__SaverDef *saver;
    Tfpb__CollectionEntry **colls;
    size_t ncolls;
    Tfpb__SignatureEntry **sigs;
    size_t nsigs;
    Tfpb__AssetFileDef **assets;
    size_t nassets;
    Tfpb__SavedObjectGraph *objects;
};

/** tf_metagraph_parse() : decodes the MetaGraphDef in @buf (which must
 *  outlive @m: graph_def points into it). @return MFS_OK, or MFS_FAILED
 *  with @e set (malformed; @m is then empty). */
int tf_metagraph_parse(const unsigned char *buf, size_t len, struct tf_metagraph *m, mfs_err *e);
void tf_metagraph_free(struct tf_metagraph *m);

/** tf_graph_stats() : walks a serialized GraphDef: number of nodes, of
 *  library functions and of nodes inside them, and a histogram
 *  {op: count} of all of them added to @ops (may be NULL).
 *  @return 0, or -1 when malformed. */
int tf_graph_stats(const unsigned char *g, size_t len, json_t *ops, size_t *nodes,
                   size_t *functions, size_t *fnodes, int *producer);

/** tf_metagraph_summary() : a JSON object: tags, tensorflow_version,
 *  tensorflow_git_version, graph node/op counts and the op histogram,
 *  collections (names of variables, counts), saver, signature keys,
 *  assets. New reference (NULL on OOM). */
json_t *tf_metagraph_summary(const struct tf_metagraph *m);

/** tf_metagraph_signatures() : signatures/<key>/ with method_name and
 *  inputs|outputs/<name>/{dtype,shape,name} for every SignatureDef
 *  (except the internal __saved_model_init_op). @return MFS_OK or
 *  MFS_FATAL (OOM). */
int tf_metagraph_signatures(const struct tf_metagraph *m, mfs_tree *t, mfs_err *e);

/** tf_metagraph_metadata() : metadata/ files for @m: tensorflow_version,
 *  tensorflow_git_version, tags (one per line) and @json_name (the
 *  summary, pretty-printed) under directory @dir. */
int tf_metagraph_metadata(const struct tf_metagraph *m, mfs_tree *t, uint32_t dir,
                          const char *json_name, mfs_err *e);

/** tf_map_src() : the whole of @src in memory: a read-only mapping of its
 *  file when it has one, else a malloc'd copy (memory sources: fuzzing);
 *  *@len set, *@mapped says which (for tf_unmap_src). NULL with @e set
 *  (MFS_FATAL) on error or beyond 2 GiB for copies. */
void *tf_map_src(mfs_src *src, size_t *len, int *mapped, mfs_err *e);
void tf_unmap_src(void *p, size_t len, int mapped);

/** tf_map_file() : maps a whole file read-only (PROT_READ, MAP_PRIVATE);
 *  *@len set. Empty files give a non-NULL dummy. @return the mapping, or
 *  NULL with @e set (MFS_FATAL). Unmap with tf_unmap_file. */
void *tf_map_file(const char *path, size_t *len, mfs_err *e);
void tf_unmap_file(void *p, size_t len);
#endif
