# Install rules and the Debian package (`cpack -G DEB` in the build folder).
include(GNUInstallDirs)

install(TARGETS dbkeep RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/docs/dbkeep.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_SOURCE_DIR}/docs/dbkeep.bash-completion
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME dbkeep)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/format.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_PACKAGE_NAME dbkeep)
set(CPACK_PACKAGE_VENDOR "dbkeep")
set(CPACK_PACKAGE_CONTACT "dbkeep maintainers <maintainers@dbkeep.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "database backups that stream through zstd and age into local or S3 storage")
set(CPACK_PACKAGE_DESCRIPTION
  "dbkeep backs up PostgreSQL, Redis, MySQL/MariaDB and SQLite from one YAML file: each dump streams through \
zstd, age and SHA-256 into a local folder or S3 with no staging copy; it schedules itself, keeps what the \
retention policy says, verifies every backup and restores in one command.")
set(CPACK_PACKAGE_INSTALL_DIRECTORY dbkeep)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
# The shared libraries dbkeep links come from dpkg-shlibdeps; the rest is what it runs or reads at run time:
# the time zone database (schedules), CA certificates (S3 over TLS), the dump tools (recommended: a runner
# may run them elsewhere, inside a container or over ssh).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "tzdata, ca-certificates")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "postgresql-client, redis-tools, zstd")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "mariadb-client | default-mysql-client, sqlite3, age, openssh-client, docker.io, kubectl, awscli")
include(CPack)
