# `cmake --install <build> [--prefix P]`: the library, its header, a CMake package and a
# pkg-config file (component development), the CLI with a relative RUNPATH and the default
# model (cli), the READMEs (runtime), the CUDA plugin beside the library (cuda). The bindings
# install themselves (bindings/*, component bindings).
include(CMakePackageConfigHelpers)

install(TARGETS tusk EXPORT TuskTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT development)
install(FILES ${CMAKE_SOURCE_DIR}/c_api/include/tusk/tusk.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tusk
        COMPONENT development)
install(EXPORT TuskTargets NAMESPACE Tusk:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Tusk COMPONENT development)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/TuskConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/cmake/TuskConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Tusk)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/TuskConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/TuskConfig.cmake ${CMAKE_BINARY_DIR}/cmake/TuskConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Tusk COMPONENT development)
# The prefix is the one given to `cmake --install`, known only then.
install(CODE "
  set(CMAKE_INSTALL_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(CMAKE_INSTALL_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  set(CMAKE_INSTALL_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  set(PROJECT_VERSION \"${PROJECT_VERSION}\")
  configure_file(\"${CMAKE_SOURCE_DIR}/cmake/tusk.pc.in\" \"${CMAKE_BINARY_DIR}/cmake/tusk.pc\" @ONLY)
  file(INSTALL \"${CMAKE_BINARY_DIR}/cmake/tusk.pc\"
       DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\")
" COMPONENT development)

set_target_properties(tusk_cli PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
install(TARGETS tusk_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
install(FILES ${TUSK_DEFAULT_MODEL} DESTINATION ${CMAKE_INSTALL_DATADIR}/tusk/models COMPONENT cli)
if(TARGET tusk_cuda)
  install(TARGETS tusk_cuda LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT cuda)
endif()
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/CHANGELOG.md DESTINATION ${CMAKE_INSTALL_DOCDIR}
        COMPONENT runtime)
