/* rd_torchscript.c: TorchScript archives (torch.jit.save): the module's
 * parameters and buffers from data.pkl, constants from constants.pkl
 * (tensors/CONSTANTS.c<i>), the code/ sources under raw/code/. Shares
 * the container code with the zip reader (torch_zip.c); bids higher when
 * constants.pkl is present. */
#include "readers/torch.h"

static int ts_bid(const struct mfs_probe *p, int best) { return mfs_torch_zip_bid(p, best, 1); }

const struct mfs_reader mfs_reader_torchscript = {
    .name = "torchscript",
    .description = "TorchScript archive (torch.jit.save): parameters, buffers, constants, code",
    .flags = 0,
    .bid = ts_bid,
    .open = mfs_torch_zip_open,
    .build = mfs_torch_zip_build,
    .close = mfs_torch_zip_close,
};
