# gitopsd_configure_unit(IN OUT NOTIFY_RELOAD): writes the unit OUT from the template IN, for
# the install (systemd/CMakeLists.txt) and for ctest systemd_units (check_units.cmake) alike.
# The caller sets GITOPSD_INSTALL_FULL_BINDIR, GITOPSD_INSTALL_FULL_DOCDIR and
# GITOPSD_CONFIG_FILE. NOTIFY_RELOAD chooses how `systemctl reload` reaches the daemon:
#   ON  (systemd 253 and later): Type=notify-reload. systemd sends SIGHUP itself and the reload
#       lasts until the daemon's READY=1. ExecReload= runs beside it and checks the file with the
#       daemon's own --check-config (the same loader the daemon reloads with), so a
#       config that does not load fails `systemctl reload` (the daemon refuses it too and keeps
#       its running config). With ExecReload= the reload waits for READY=1 when the daemon's
#       RELOADING=1 came before the check ended, which it does: the daemon answers SIGHUP at
#       once, the check is a new process (measured on systemd 257: both messages arrive
#       first, then the reload ends).
#   OFF (systemd 252, Debian 12): Type=notify, and ExecReload= sends SIGHUP; `systemctl reload`
#       returns once it is sent. The daemon's RELOADING=1 ... READY=1 still shows in
#       `systemctl status` as "reloading" while it lasts.
# Either way a reload the daemon refused shows in `systemctl status` (its STATUS= line) until a
# later reload takes effect.
function(gitopsd_configure_unit in out notify_reload)
  # The daemon the unit runs: gitopsd-receiver.service.in -> gitopsd-receiver,
  # gitopsd-worker@.service.in -> gitopsd-worker.
  get_filename_component(unit_file ${in} NAME)
  string(REGEX REPLACE "@?\\.service\\.in$" "" GITOPSD_DAEMON ${unit_file})
  set(GITOPSD_CHECK_CONFIG "${GITOPSD_INSTALL_FULL_BINDIR}/${GITOPSD_DAEMON} --check-config --config ${GITOPSD_CONFIG_FILE}")
  if(notify_reload)
    set(GITOPSD_SERVICE_TYPE notify-reload)
    set(GITOPSD_EXEC_RELOAD "${GITOPSD_CHECK_CONFIG}")
  else()
    set(GITOPSD_SERVICE_TYPE notify)
    set(GITOPSD_EXEC_RELOAD "/bin/kill -HUP $MAINPID")
  endif()
  configure_file(${in} ${out} @ONLY)
endfunction()
