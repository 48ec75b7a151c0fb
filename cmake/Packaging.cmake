# Debian package of timmd: `cpack -G DEB` in a build tree configured with
# -DCMAKE_INSTALL_PREFIX=/usr and with timmd and timmctl built (with Ninja, cpack builds no
# target). The package holds the binaries, the bundled registry and remap rules (share/timmd), the
# systemd units, sysusers.d and tmpfiles.d entries, /etc/timmd/timmd.json and the man pages.
# scripts/test-package.sh builds, installs and exercises it.

include(GNUInstallDirs)

set(TIMMD_PACKAGING_DIR ${PROJECT_SOURCE_DIR}/packaging)

# Debian 12's own packages (systemd, dbus, apt) ship their units in /lib/systemd/system, and so
# does this one. systemd 252 reads /usr/lib/systemd/system too.
set(TIMMD_SYSTEMD_UNIT_DIR /lib/systemd/system CACHE PATH "Directory of the systemd unit files in the package")
set(TIMMD_PACKAGE_MAINTAINER "Seed 421e6ef6 maintainers <maintainers@users.noreply.r-seed-421e6ef6.example>"
    CACHE STRING "Maintainer field of the Debian package")

install(FILES ${TIMMD_PACKAGING_DIR}/systemd/timmd.service ${TIMMD_PACKAGING_DIR}/systemd/timmd.socket
        DESTINATION ${TIMMD_SYSTEMD_UNIT_DIR})
# Not CMAKE_INSTALL_LIBDIR: on Debian that is lib/<multiarch triplet>, and systemd reads only
# /usr/lib/sysusers.d and /usr/lib/tmpfiles.d.
install(FILES ${TIMMD_PACKAGING_DIR}/sysusers.d/timmd.conf DESTINATION lib/sysusers.d)
install(FILES ${TIMMD_PACKAGING_DIR}/tmpfiles.d/timmd.conf DESTINATION lib/tmpfiles.d)
# GNUInstallDirs maps this to /etc/timmd when the prefix is /usr, the path timmd.service names.
install(FILES ${TIMMD_PACKAGING_DIR}/timmd.json DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/timmd)

# Man pages, compressed as Debian policy asks. They are compressed at configure time because
# cpack builds no target. Editing a page re-runs the configure step at the next build.
find_program(TIMMD_GZIP gzip)
foreach(page timmctl.1 timmd.8)
  set(source ${TIMMD_PACKAGING_DIR}/man/${page})
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${page})
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${source})
  if(TIMMD_GZIP)
    set(compressed ${CMAKE_BINARY_DIR}/man/${page}.gz)
    file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/man)
    # -n leaves the name and time stamp out of the header, so the file is reproducible.
    execute_process(COMMAND ${TIMMD_GZIP} -9n -c ${source} OUTPUT_FILE ${compressed} RESULT_VARIABLE gzip_status)
    if(NOT gzip_status EQUAL 0)
      message(FATAL_ERROR "gzip failed on ${source}: ${gzip_status}")
    endif()
    install(FILES ${compressed} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  else()
    install(FILES ${source} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endif()
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME timmd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${TIMMD_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "cache of Hugging Face Hub model weights served over a Unix socket")
# Debian wants the lines of the long description under 80 columns.
string(CONCAT CPACK_PACKAGE_DESCRIPTION
       "timmd downloads model repositories from the Hugging Face Hub with\n"
       "parallel, resumable, retried transfers, verifies every file against the\n"
       "Hub's SHA-256 or git object id, and keeps them in a content-addressed\n"
       "cache indexed in SQLite. Local clients (timmctl, the C++ and Python\n"
       "libraries) talk to it over a Unix socket and map timm state dicts from\n"
       "the cache, remapped as timm's load_pretrained would load them.\n"
       "\n"
       "The package runs it as a socket-activated systemd service under the\n"
       "timmd user.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# dpkg-shlibdeps (package dpkg-dev) adds the shared library dependencies to this list.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# postinst creates the user with adduser where systemd-sysusers is missing.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${TIMMD_PACKAGING_DIR}/debian/postinst ${TIMMD_PACKAGING_DIR}/debian/prerm
    ${TIMMD_PACKAGING_DIR}/debian/postrm ${TIMMD_PACKAGING_DIR}/debian/conffiles)
# Maintainer scripts 0755, conffiles 0644, whatever the checkout's modes are.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# The binaries look for the registry and rule files under the prefix they were configured with,
# so packaging/cpack-options.cmake rejects a DEB built from a tree with another prefix.
set(CPACK_TIMMD_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PROJECT_CONFIG_FILE ${TIMMD_PACKAGING_DIR}/cpack-options.cmake)

include(CPack)
