# Where `cmake --install` puts each part, relative to the prefix (GNU layout), and how a binding
# installed in one folder finds the library folder (a relative path, so the tree can move).
include(GNUInstallDirs)
set(TUSK_INSTALL_PYTHONDIR "lib/python3/dist-packages" CACHE STRING
    "Where the Python package is installed (Debian's layout; PYTHONPATH for other prefixes)")
set(TUSK_INSTALL_JAVADIR "${CMAKE_INSTALL_DATADIR}/java" CACHE STRING "Where tusk.jar is installed")
set(TUSK_INSTALL_CLIDIR "lib/cli/tusk" CACHE STRING "Where Tusk.dll is installed (Debian's CLI policy)")

# tusk_path_to_libdir(<out> <dir>): the library folder as seen from install folder <dir>.
function(tusk_path_to_libdir out dir)
  set(from ${dir})
  set(to ${CMAKE_INSTALL_LIBDIR})
  if(IS_ABSOLUTE "${from}" OR IS_ABSOLUTE "${to}")
    set(${out} ${CMAKE_INSTALL_FULL_LIBDIR} PARENT_SCOPE)  # not relocatable: say where it is
    return()
  endif()
  file(RELATIVE_PATH rel "/prefix/${from}" "/prefix/${to}")
  set(${out} ${rel} PARENT_SCOPE)
endfunction()
