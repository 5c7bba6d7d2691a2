# install() + export() of ttlcache::ttlcache (and ttlcache::redis when built), a package config
# with find_dependency, a version file, and a pkg-config file.
include(CMakePackageConfigHelpers)

set(TTLCACHE_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/ttlcache")

install(DIRECTORY include/ttlcache DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS ttlcache EXPORT ttlcacheTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT ttlcacheTargets NAMESPACE ttlcache:: DESTINATION ${TTLCACHE_CMAKE_DIR})
export(EXPORT ttlcacheTargets NAMESPACE ttlcache::
  FILE "${PROJECT_BINARY_DIR}/ttlcacheTargets.cmake")

if(TARGET ttlcache_redis)
  install(TARGETS ttlcache_redis EXPORT ttlcacheRedisTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(EXPORT ttlcacheRedisTargets NAMESPACE ttlcache:: DESTINATION ${TTLCACHE_CMAKE_DIR})
  install(FILES cmake/Findhiredis.cmake DESTINATION ${TTLCACHE_CMAKE_DIR})
endif()

configure_package_config_file(cmake/ttlcacheConfig.cmake.in
  "${PROJECT_BINARY_DIR}/ttlcacheConfig.cmake"
  INSTALL_DESTINATION ${TTLCACHE_CMAKE_DIR})
write_basic_package_version_file("${PROJECT_BINARY_DIR}/ttlcacheConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/ttlcacheConfig.cmake"
              "${PROJECT_BINARY_DIR}/ttlcacheConfigVersion.cmake"
  DESTINATION ${TTLCACHE_CMAKE_DIR})

# Relocatable: the prefix is found from the .pc file's own folder, so `cmake --install --prefix`
# anywhere gives a working pkg-config file.
file(RELATIVE_PATH TTLCACHE_PC_TO_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" TTLCACHE_PC_TO_PREFIX "${TTLCACHE_PC_TO_PREFIX}")
configure_file(cmake/ttlcache.pc.in "${PROJECT_BINARY_DIR}/ttlcache.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/ttlcache.pc" DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
