# SPDX-License-Identifier: Apache-2.0
# Install rules: headers, libtconv.so + libtconv.a, the `tconv` command, a CMake package
# (find_package(tconv) -> tconv::tconv shared, tconv::tconv_static) and a pkg-config file.
include(CMakePackageConfigHelpers)

set(TCONV_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tconv)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/runtime/include/tconv
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h" PATTERN "*.hpp")
# Only the problem descriptor is public on the generator side; its plans stay internal.
install(FILES ${PROJECT_SOURCE_DIR}/generator/include/tconv/problem.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tconv)

install(TARGETS tconv_shared EXPORT tconvTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS tconv EXPORT tconvStaticTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

# Two export sets, so that consumers of the shared library never need fmt.
install(EXPORT tconvTargets NAMESPACE tconv:: DESTINATION ${TCONV_CMAKE_DIR})
install(EXPORT tconvStaticTargets NAMESPACE tconv:: DESTINATION ${TCONV_CMAKE_DIR})

# ONNX models in: libtconv_onnx.so (tconv::onnx, the `onnx` component) and its header. It loads
# Debian's libonnx and libprotobuf itself; consumers compile against tconv/onnx.hpp only.
install(FILES ${PROJECT_SOURCE_DIR}/onnx/include/tconv/onnx.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tconv)
install(TARGETS tconv_onnx_shared EXPORT tconvOnnxTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(EXPORT tconvOnnxTargets NAMESPACE tconv:: DESTINATION ${TCONV_CMAKE_DIR})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/tconvConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/tconvConfig.cmake
                              INSTALL_DESTINATION ${TCONV_CMAKE_DIR})
# 0.x releases may break the API between minor versions.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tconvConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/tconvConfig.cmake ${PROJECT_BINARY_DIR}/tconvConfigVersion.cmake
        DESTINATION ${TCONV_CMAKE_DIR})

# pkg-config: paths relative to the .pc file itself, so `cmake --install --prefix` anywhere works.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(TCONV_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH TCONV_PC_UP "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
  string(REGEX REPLACE "/$" "" TCONV_PC_UP "${TCONV_PC_UP}")
  set(TCONV_PC_PREFIX "\${pcfiledir}/${TCONV_PC_UP}")
endif()
set(TCONV_PC_LIBS_PRIVATE "-lfmt -pthread -lstdc++ -lm")
configure_file(${CMAKE_CURRENT_LIST_DIR}/tconv.pc.in ${PROJECT_BINARY_DIR}/tconv.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/tconv.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

if(TARGET tconv_cli)
  install(TARGETS tconv_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# The licence travels with the library.
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/tconv)
