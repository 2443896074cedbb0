/* registry.c: the ordered table of readers.
 *
 * Order matters only for ties (the earlier reader wins) and for speed:
 * cheap magic-number bidders come first (safetensors, GGUF, npy, HDF5,
 * pickle), then the zip family, which tells itself apart by member names
 * (PyTorch data.pkl, TorchScript constants.pkl, Keras config.json +
 * metadata.json, npz *.npy), then the directory and prefix readers
 * (SavedModel, TF checkpoints, sharded safetensors), then protobuf files
 * without a magic number (ONNX, GraphDef), which bid last and low.
 *
 * Each reader lives in its own rd_*.c file and is declared weak here: a
 * reader that is not linked in (not yet written) is simply absent. */
#include "readers/reader.h"
#include <string.h>

#define R(sym) extern const struct mfs_reader sym __attribute__((weak));
R(mfs_reader_safetensors)
R(mfs_reader_gguf)
R(mfs_reader_npy)
R(mfs_reader_keras_h5)
R(mfs_reader_keras_h5_weights)
R(mfs_reader_keras3_weights_h5)
R(mfs_reader_hdf5)
R(mfs_reader_pytorch_legacy)
R(mfs_reader_joblib)
R(mfs_reader_pickle)
R(mfs_reader_pytorch_tar)
R(mfs_reader_torchscript)
R(mfs_reader_torch_export)
R(mfs_reader_pytorch_zip)
R(mfs_reader_keras_v3)
R(mfs_reader_npz)
R(mfs_reader_tf_savedmodel)
R(mfs_reader_tf_checkpoint)
R(mfs_reader_tf_checkpoint_v1)
R(mfs_reader_safetensors_sharded)
R(mfs_reader_keras3_weights_sharded)
R(mfs_reader_onnx)
R(mfs_reader_tf_graphdef)
#undef R

static const struct mfs_reader *const table[] = {
    &mfs_reader_safetensors,
    &mfs_reader_gguf,
    &mfs_reader_npy,
    &mfs_reader_keras_h5,
    &mfs_reader_keras_h5_weights,
    &mfs_reader_keras3_weights_h5,
    &mfs_reader_hdf5,
    &mfs_reader_pytorch_legacy,
    &mfs_reader_joblib,
    &mfs_reader_pickle,
    &mfs_reader_pytorch_tar,
    &mfs_reader_torchscript,
    &mfs_reader_torch_export,
    &mfs_reader_pytorch_zip,
    &mfs_reader_keras_v3,
    &mfs_reader_npz,
    &mfs_reader_tf_savedmodel,
    &mfs_reader_tf_checkpoint,
    &mfs_reader_tf_checkpoint_v1,
    &mfs_reader_safetensors_sharded,
    &mfs_reader_keras3_weights_sharded,
    &mfs_reader_onnx,
    &mfs_reader_tf_graphdef,
};

#define NTABLE (sizeof table / sizeof table[0])

static const struct mfs_reader *nth_present(size_t i)
{
    for (size_t k = 0; k < NTABLE; k++) {
        if (!table[k]) continue;
        if (i-- == 0) return table[k];
    }
    return NULL;
}

size_t mfs_registry_count(void)
{
    size_t n = 0;
    for (size_t k = 0; k < NTABLE; k++) n += table[k] != NULL;
    return n;
}

const struct mfs_reader *mfs_registry_get(size_t i) { return nth_present(i); }

const struct mfs_reader *mfs_registry_find(const char *name)
{
    for (size_t k = 0; k < NTABLE; k++)
        if (table[k] && strcmp(table[k]->name, name) == 0) return table[k];
    return NULL;
}

size_t mfs_reader_count(void) { return mfs_registry_count(); }
const char *mfs_reader_id(size_t i)
{
    const struct mfs_reader *r = nth_present(i);
    return r ? r->name : NULL;
}
const char *mfs_reader_description(size_t i)
{
    const struct mfs_reader *r = nth_present(i);
    return r ? r->description : NULL;
}
