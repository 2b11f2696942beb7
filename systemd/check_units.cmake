# ctest systemd_units: generates the units from *.service.in the way the install does, but
# with ExecStart pointing at the built binaries (verify wants existing executables), in both
# variants (Type=notify and Type=notify-reload, configure_unit.cmake), then
#   - each has the Type= and ExecReload= of its variant, and checks the config with its own
#     daemon's --check-config before starting (ExecStartPre=);
#   - `systemd-analyze verify` must pass for each variant this systemd knows (notify-reload
#     needs 253: on Debian 12 only the notify variant is verified, and the test says so), and
#   - `systemd-analyze security --offline=true` must rate the receiver and the notifier
#     <= 2.5 and the worker <= 5.0 (the issues' limits); the scores are printed;
#   - the receiver's LimitNOFILE= covers the default receiver.max_connections + 4096.
# Works without a running systemd (as in containers). Arguments: see systemd/CMakeLists.txt.
if(NOT SYSTEMD_ANALYZE)
  message(FATAL_ERROR "systemd-analyze not found: install the systemd package (scripts/setup.sh)")
endif()
set(max_exposure_gitopsd-receiver.service 2.5)
set(max_exposure_gitopsd-worker@.service 5.0)
set(max_exposure_gitopsd-notifier.service 2.5)

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/bin)
string(REPLACE "," ";" BINARIES "${BINARIES}")
foreach(binary IN LISTS BINARIES)
  get_filename_component(name ${binary} NAME)
  file(CREATE_LINK ${binary} ${WORK_DIR}/bin/${name} SYMBOLIC)
endforeach()
set(GITOPSD_INSTALL_FULL_BINDIR ${WORK_DIR}/bin)
set(GITOPSD_INSTALL_FULL_DOCDIR ${DOCDIR})
set(GITOPSD_CONFIG_FILE ${CONFIG_FILE})

include(${SOURCE_DIR}/configure_unit.cmake)
execute_process(COMMAND ${SYSTEMD_ANALYZE} --version OUTPUT_VARIABLE version_text)
string(REGEX MATCH "^systemd ([0-9]+)" found "${version_text}")
set(analyze_version ${CMAKE_MATCH_1})

string(REPLACE "," ";" UNITS "${UNITS}")
set(failures "")
foreach(notify_reload IN ITEMS OFF ON)
  if(notify_reload)
    set(variant notify-reload)
  else()
    set(variant notify)
  endif()
  set(configured "")
  if((notify_reload AND NOTIFY_RELOAD) OR (NOT notify_reload AND NOT NOTIFY_RELOAD))
    set(configured " (the variant this build installs)")
  endif()
  file(MAKE_DIRECTORY ${WORK_DIR}/${variant})
  foreach(unit IN LISTS UNITS)
    set(name "${unit} [Type=${variant}]${configured}")
    # Each unit checks the file with its own daemon's --check-config (start and reload).
    string(REGEX REPLACE "@?\\.service$" "" daemon ${unit})
    set(check_config "${GITOPSD_INSTALL_FULL_BINDIR}/${daemon} --check-config --config ${CONFIG_FILE}")
    if(notify_reload)
      set(exec_reload "${check_config}")
    else()
      set(exec_reload "/bin/kill -HUP $MAINPID")
    endif()
    gitopsd_configure_unit(${SOURCE_DIR}/${unit}.in ${WORK_DIR}/${variant}/${unit} ${notify_reload})
    file(STRINGS ${WORK_DIR}/${variant}/${unit} types REGEX "^Type=")
    file(STRINGS ${WORK_DIR}/${variant}/${unit} reloads REGEX "^ExecReload=")
    file(STRINGS ${WORK_DIR}/${variant}/${unit} start_checks REGEX "^ExecStartPre=")
    if(NOT start_checks STREQUAL "ExecStartPre=${check_config}")
      list(APPEND failures "${name}: want ExecStartPre=${check_config}, have ${start_checks}")
    endif()
    if(NOT types STREQUAL "Type=${variant}" OR NOT reloads STREQUAL "ExecReload=${exec_reload}")
      list(APPEND failures "${name}: want Type=${variant} and ExecReload=${exec_reload}, have ${types} ${reloads}")
    endif()
    # A template is verified (and rated) as one of its instances.
    string(REPLACE "@." "@1." instance ${unit})
    if(NOT instance STREQUAL unit)
      file(CREATE_LINK ${unit} ${WORK_DIR}/${variant}/${instance} SYMBOLIC)
    endif()
    if(notify_reload AND analyze_version LESS 253)
      message(STATUS "${name}: not verified: systemd-analyze ${analyze_version} predates Type=notify-reload (253)")
      continue()
    endif()
    execute_process(COMMAND ${SYSTEMD_ANALYZE} verify ${WORK_DIR}/${variant}/${instance}
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0 OR NOT out STREQUAL "")
      # verify exits 0 on some warnings; any output is a finding.
      list(APPEND failures "${name}: systemd-analyze verify (exit ${rc}):\n${out}")
    else()
      message(STATUS "${name}: systemd-analyze ${analyze_version} verify: ok")
    endif()

    execute_process(COMMAND ${SYSTEMD_ANALYZE} security --offline=true --no-pager ${WORK_DIR}/${variant}/${instance}
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    string(REGEX MATCH "Overall exposure level for [^:]+: ([0-9]+\\.[0-9]+)" found "${out}")
    if(NOT found)
      list(APPEND failures "${name}: no exposure level in systemd-analyze security output (exit ${rc}):\n${out}${err}")
      continue()
    endif()
    set(score ${CMAKE_MATCH_1})
    set(limit ${max_exposure_${unit}})
    message(STATUS "${name}: exposure ${score} (limit ${limit})")
    if(score GREATER limit)
      list(APPEND failures "${name}: exposure ${score} is above ${limit}:\n${out}")
    endif()
  endforeach()
endforeach()

# The receiver's descriptor limit must cover its default max_connections with room for
# Kafka's sockets, the admin endpoint and its files.
file(READ ${SOURCE_DIR}/../common/include/gitopsd/config.hpp config_header)
string(REGEX MATCH "unsigned max_connections = ([0-9]+);" found "${config_header}")
set(max_connections ${CMAKE_MATCH_1})
file(READ ${SOURCE_DIR}/gitopsd-receiver.service.in receiver_unit)
string(REGEX MATCH "\nLimitNOFILE=([0-9]+)\n" found_limit "${receiver_unit}")
set(limit_nofile ${CMAKE_MATCH_1})
if(NOT found OR NOT found_limit)
  list(APPEND failures "gitopsd-receiver.service: no LimitNOFILE=, or no default max_connections in config.hpp")
else()
  math(EXPR needed "${max_connections} + 4096")
  message(STATUS "gitopsd-receiver.service: LimitNOFILE=${limit_nofile} (max_connections ${max_connections}, needs >= ${needed})")
  if(limit_nofile LESS needed)
    list(APPEND failures "gitopsd-receiver.service: LimitNOFILE=${limit_nofile} is below max_connections ${max_connections} + 4096")
  endif()
endif()

if(failures)
  string(REPLACE ";" "\n" failures "${failures}")
  message(FATAL_ERROR "${failures}")
endif()
