# Finds hiredis and creates the imported target hiredis::hiredis (pkg-config first, then a search).
# SPDX-License-Identifier: MIT
#
# Used by the build and shipped with the installed package config, so that a consumer of
# ttlcache::redis finds hiredis the same way. Debian's own HiredisConfig.cmake is not used: it
# defines no target and fails when no version is requested.
#
# Results: hiredis_FOUND, hiredis_VERSION, hiredis_INCLUDE_DIR (the folder holding hiredis/),
# and the target hiredis::hiredis.
include(FindPackageHandleStandardArgs)

# A second find_package(hiredis) (the build, then a consumer's config) reuses the target.
if(TARGET hiredis::hiredis)
  set(hiredis_FOUND TRUE)
  return()
endif()

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  set(_hiredis_spec hiredis)
  if(hiredis_FIND_VERSION)
    set(_hiredis_spec "hiredis>=${hiredis_FIND_VERSION}")
  endif()
  pkg_check_modules(HIREDIS QUIET IMPORTED_TARGET ${_hiredis_spec})
  unset(_hiredis_spec)
endif()

# The sources include <hiredis/hiredis.h>; hiredis.pc points into the hiredis/ folder itself.
find_path(hiredis_INCLUDE_DIR NAMES hiredis/hiredis.h HINTS "${HIREDIS_INCLUDEDIR}/..")
mark_as_advanced(hiredis_INCLUDE_DIR)

if(HIREDIS_FOUND AND TARGET PkgConfig::HIREDIS)
  set(hiredis_VERSION "${HIREDIS_VERSION}")
  set(hiredis_LIBRARY PkgConfig::HIREDIS)
  add_library(hiredis::hiredis INTERFACE IMPORTED)
  set_target_properties(hiredis::hiredis PROPERTIES
    INTERFACE_LINK_LIBRARIES PkgConfig::HIREDIS
    INTERFACE_INCLUDE_DIRECTORIES "${hiredis_INCLUDE_DIR}")
else()
  find_library(hiredis_LIBRARY NAMES hiredis)
  mark_as_advanced(hiredis_LIBRARY)
  if(hiredis_INCLUDE_DIR AND EXISTS "${hiredis_INCLUDE_DIR}/hiredis/hiredis.h")
    file(STRINGS "${hiredis_INCLUDE_DIR}/hiredis/hiredis.h" _hiredis_version_lines
         REGEX "#define HIREDIS_(MAJOR|MINOR|PATCH) ")
    foreach(_part MAJOR MINOR PATCH)
      string(REGEX MATCH "HIREDIS_${_part} ([0-9]+)" _ "${_hiredis_version_lines}")
      set(_hiredis_${_part} "${CMAKE_MATCH_1}")
    endforeach()
    set(hiredis_VERSION "${_hiredis_MAJOR}.${_hiredis_MINOR}.${_hiredis_PATCH}")
    unset(_hiredis_version_lines)
  endif()
  if(hiredis_INCLUDE_DIR AND hiredis_LIBRARY)
    add_library(hiredis::hiredis UNKNOWN IMPORTED)
    set_target_properties(hiredis::hiredis PROPERTIES
      IMPORTED_LOCATION "${hiredis_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${hiredis_INCLUDE_DIR}")
  endif()
endif()

find_package_handle_standard_args(hiredis
  REQUIRED_VARS hiredis_LIBRARY hiredis_INCLUDE_DIR
  VERSION_VAR hiredis_VERSION)
