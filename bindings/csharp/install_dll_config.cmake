# Run by `cmake --install` (see CMakeLists.txt) with TUSK_CLIDIR and TUSK_LIBDIR set: writes the
# installed Tusk.dll.config, whose dllmap names the installed libtusk.so.0 by its absolute path.
if(IS_ABSOLUTE "${TUSK_LIBDIR}")
  set(library "${TUSK_LIBDIR}/libtusk.so.0")
else()
  set(library "${CMAKE_INSTALL_PREFIX}/${TUSK_LIBDIR}/libtusk.so.0")
endif()
set(config "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}/${TUSK_CLIDIR}/Tusk.dll.config")
file(WRITE "${config}" "<!-- Written by cmake --install: Mono maps DllImport \"tusk\" to the installed library. -->
<configuration>
  <dllmap dll=\"tusk\" target=\"${library}\" os=\"linux\"/>
</configuration>
")
message(STATUS "Installing: ${config}")
