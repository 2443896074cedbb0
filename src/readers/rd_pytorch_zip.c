/* rd_pytorch_zip.c: torch.save zip archives (PyTorch >= 1.6, Lightning
 * .ckpt): state_dicts, whole models, checkpoints with optimizer state.
 * The work is in torch_zip.c (container) and torch_model.c (meaning). */
#include "readers/torch.h"

static int pt_bid(const struct mfs_probe *p, int best) { return mfs_torch_zip_bid(p, best, 0); }

const struct mfs_reader mfs_reader_pytorch_zip = {
    .name = "pytorch-zip",
    .description = "PyTorch torch.save zip archive (.pt/.pth/.bin/.ckpt): tensors, layers, optimizer, metadata",
    .flags = 0,
    .bid = pt_bid,
    .open = mfs_torch_zip_open,
    .build = mfs_torch_zip_build,
    .close = mfs_torch_zip_close,
};
