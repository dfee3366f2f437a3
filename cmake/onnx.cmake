# SPDX-License-Identifier: Apache-2.0
# Debian's ONNX library (libonnx-dev) and protobuf (libprotobuf-dev), for tconv_onnx. Found at
# the top level: their imported targets are then visible to every directory linking tconv_onnx.
find_package(Protobuf QUIET)
find_package(ONNX CONFIG QUIET)
if(NOT Protobuf_FOUND OR NOT ONNX_FOUND OR NOT TARGET onnx OR NOT TARGET onnx_proto)
  message(FATAL_ERROR "tconv reads ONNX models with Debian's libonnx-dev and libprotobuf-dev, "
                      "which were not found: run `make deps` (or apt-get install libonnx-dev "
                      "libprotobuf-dev)")
endif()
