# SPDX-License-Identifier: Apache-2.0
# Debian's ONNX library (libonnx-dev) and protobuf (libprotobuf-dev), for tconv_onnx: sets
# TCONV_ONNX_LIBS. Found at the top level, so that their imported targets are visible to every
# directory linking tconv_onnx. ONNX 1.12 (Debian 12) names its targets onnx and onnx_proto,
# 1.17 (Debian 13) ONNX::onnx and ONNX::onnx_proto.
find_package(Protobuf QUIET)
find_package(ONNX CONFIG QUIET)
if(Protobuf_FOUND AND TARGET ONNX::onnx AND TARGET ONNX::onnx_proto)
  set(TCONV_ONNX_LIBS ONNX::onnx ONNX::onnx_proto protobuf::libprotobuf)
elseif(Protobuf_FOUND AND TARGET onnx AND TARGET onnx_proto)
  set(TCONV_ONNX_LIBS onnx onnx_proto protobuf::libprotobuf)
else()
  message(FATAL_ERROR "tconv reads ONNX models with Debian's libonnx-dev and libprotobuf-dev, "
                      "which were not found: run `make deps` (or apt-get install libonnx-dev "
                      "libprotobuf-dev)")
endif()
