#include "bench_peer.hpp"

namespace tconv::bench {

const std::vector<Peer>& all_peers() {
    static const std::vector<Peer> peers{{"oneDNN", &create_onednn}, {"XNNPACK", &create_xnnpack}};
    return peers;
}

}  // namespace tconv::bench
