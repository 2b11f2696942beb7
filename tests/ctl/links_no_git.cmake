# ctest binaries_link_no_git: none of BINARIES (comma-separated) needs libgit2. readelf -d lists
# a program's own DT_NEEDED entries (a run that lists none fails, so the check cannot pass
# by reading nothing).
find_program(READELF readelf REQUIRED)
string(REPLACE "," ";" BINARIES "${BINARIES}")
foreach(binary IN LISTS BINARIES)
  execute_process(COMMAND ${READELF} -d ${binary} OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT dynamic MATCHES "NEEDED")
    message(FATAL_ERROR "readelf -d ${binary} failed or listed no NEEDED entries (${rc})")
  endif()
  if(dynamic MATCHES "libgit2")
    message(FATAL_ERROR "${binary} links libgit2:\n${dynamic}")
  endif()
  message(STATUS "${binary}: no libgit2")
endforeach()
