# Read by ctest after the discovered tests (TEST_INCLUDE_FILES). With -j, ctest starts tests in descending COST;
# a fresh clone has no cost data of earlier runs, so without these the longest tests could start last and a run
# would end on one of them alone. Seconds measured on a 2-core machine (the release build; where the ASan build
# is much slower, a cost between the two); a test renamed or gone is ignored.
set(dbkeep_costs
  PostgresArchive.EveryTruncationIsACorruptionError 60
  PostgresRestore.ATableOfContentsOver256MiBRestoresWithJobs2 40
  DockerTest.PostgresAndRedisRoundTripThroughTheEngineApi 25
  RedisRdbMatrix.EveryConfigurationsRdbIsBackedUpAndRestoredWithItsAccessMetadata 54
  Scheduling.DaemonRunsEveryMinuteServesMetricsAndStopsOnSigterm 49
  DockerTest.PostgresAndRedisRoundTripThroughDockerExecAsACommandPrefix 24
  PostgresParallel.SigtermWhileThePartsLoadStopsAndDropsTheNewDatabase 19
  RemoteRunner.BackupAndRestoreThroughSsh 17
  S3Hostile.AServerTricklingTwoBytesASecondIsAStall 16
  MysqlBackup.RoundTripKeepsEveryTableWhileWritesRunDuringTheBackup 15
  S3Backup.PersistentConnectionFailuresFailTheBackupAndAbortTheUpload 15
  PostgresParallel.ThePartsRestoreWithZstdPgRestoreAndPsqlAlone 13
  EcsTest.CheckProvesTheSharedFolderFromBothSides 13
  EcsTest.AStatusThatNeverAppearsTimesOut 13
  PostgresParallel.AWorkerKilledMidChunkLeavesNoManifestAndNoObject 12
  DockerTest.PgDumpKilledInsideTheContainerLeavesNoManifest 11
  MysqlBackup.VerifyRestorePassesAndDetectsAMismatch 11
  DockerTest.CheckPassesOnAHealthySetUpAndNamesAStoppedContainer 11
  S3Clock.CheckProbeReportsTheSkewOfARequestTimeTooSkewedRefusal 11
  DockerTest.StoppedOrMissingContainerFailsClearlyWithNoManifest 10
  PostgresServerBackup.QuotesInNamesKeepTheOwnerSettingAndComment 10
  PostgresServerBackup.ItsObjectsAsFilesAndVerify 10
  MysqlDocker.RoundTripThroughTheEngineApi 10
  S3Backup.AParallelDumpsPartsUploadSideBySideAndRestore 10
  Sqlite.AWriterHoldingTheLockPastTheTimeoutNamesWalMode 31
  Sqlite.ThroughACommandRunnerTheSqlite3CliCopiesWhileAWriterCommits 10)
list(LENGTH dbkeep_costs n)
math(EXPR last "${n} - 1")
foreach(i RANGE 0 ${last} 2)
  math(EXPR j "${i} + 1")
  list(GET dbkeep_costs ${i} name)
  list(GET dbkeep_costs ${j} cost)
  set_tests_properties(${name} PROPERTIES COST ${cost})
endforeach()
