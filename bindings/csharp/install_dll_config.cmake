# Run by `cmake --install` (see CMakeLists.txt) with TUSK_CLIDIR, TUSK_LIBDIR and TUSK_STAGING
# set: writes the installed Tusk.dll.config, whose dllmap names the installed libtusk.so.0 by
# its absolute path (so an app may copy Tusk.dll and its config beside itself; the installed
# tree can then no longer move), and installs it (file(INSTALL): DESTDIR and the manifest).
if(IS_ABSOLUTE "${TUSK_LIBDIR}")
  set(library "${TUSK_LIBDIR}/libtusk.so.0")
else()
  set(library "${CMAKE_INSTALL_PREFIX}/${TUSK_LIBDIR}/libtusk.so.0")
endif()
file(WRITE "${TUSK_STAGING}/Tusk.dll.config" "<!-- Written by cmake --install: Mono maps DllImport \"tusk\" to the installed library. -->
<configuration>
  <dllmap dll=\"tusk\" target=\"${library}\" os=\"linux\"/>
</configuration>
")
file(INSTALL "${TUSK_STAGING}/Tusk.dll.config" DESTINATION "${CMAKE_INSTALL_PREFIX}/${TUSK_CLIDIR}")
