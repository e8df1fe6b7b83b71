print("isthmus")
