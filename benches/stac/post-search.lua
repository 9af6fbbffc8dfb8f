-- wrk: POST /search with a 1-degree bbox and limit 10 (rustac's GET bbox search returns 500).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"bbox":[0.5,49.5,1.5,50.5],"limit":10}'
