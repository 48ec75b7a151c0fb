# Read by cpack for each generator (CPACK_PROJECT_CONFIG_FILE), after CPackConfig.cmake.
#
# timmd looks for its registry and remap rules under the install prefix it was configured with
# (CMAKE_INSTALL_FULL_DATADIR/timmd), while the DEB installs them under /usr. A build tree
# configured with another prefix would make a package whose daemon cannot find its own data.
if(CPACK_GENERATOR STREQUAL "DEB" AND NOT CPACK_TIMMD_INSTALL_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR "this build tree was configured with CMAKE_INSTALL_PREFIX="
                      "${CPACK_TIMMD_INSTALL_PREFIX}, but the Debian package installs under /usr; "
                      "configure it again with -DCMAKE_INSTALL_PREFIX=/usr, rebuild timmd and timmctl, "
                      "then run cpack")
endif()
