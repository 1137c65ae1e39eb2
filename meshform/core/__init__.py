"""The governing core, shared by every front end: where a kind keeps its pod template (`workloads`),
the application model expanded into objects (`expand`), modes applied and recorded (`govern`,
`transform`, `status`), other injectors' output adopted (`foreign`), namespace precedence (`namespaces`).
It never knows which front end called it."""
