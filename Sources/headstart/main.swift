print("headstart")
