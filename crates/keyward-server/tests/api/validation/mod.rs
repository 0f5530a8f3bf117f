mod routes;
