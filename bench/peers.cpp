// SPDX-License-Identifier: Apache-2.0
#include "bench_peer.hpp"

namespace tconv::bench {

const std::vector<Peer>& all_peers() {
    static const std::vector<Peer> peers{{"oneDNN", &create_onednn, &onednn_version},
                                         {"XNNPACK", &create_xnnpack, &xnnpack_version},
                                         {"ONNX Runtime", &create_onnxruntime,
                                          &onnxruntime_version}};
    return peers;
}

}  // namespace tconv::bench
