"""Test reports and test failures in logs, as plain data (no Django).

`reports.read_report` reads one report file (JUnit XML in every runner's dialect,
CTest, TRX, NUnit, xUnit.net, Open Test Reporting) with a hardened streaming parser;
`logs.failed_tests` finds the tests a log says failed, for jobs without a report;
`identity` gives every test one key whichever runner or line named it.
"""
