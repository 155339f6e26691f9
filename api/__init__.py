"""The clinician API: alerts, patients, readings, FHIR export, live stream, dashboard."""
